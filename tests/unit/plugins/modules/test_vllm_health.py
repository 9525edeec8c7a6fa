# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run hpc.vllm.vllm_health against a real HTTP server that answers like vLLM's OpenAI server."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import json
import os
import socket
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.hpc.vllm.plugins.modules import vllm_health
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module


API_KEY = 'sk-hpc-vllm-test-0123456789'

# small enough for a fast suite, large enough for a loaded CI machine to answer in time
FAST = {'interval': 0.05, 'request_timeout': 2}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        # quiet, and Unix sockets have no client address to log
        pass

    def _send(self, status, body=b'', content_type='application/json'):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # pylint: disable=invalid-name
        fake = self.server.fake
        authorization = self.headers.get('Authorization')
        with fake.lock:
            fake.requests.append((self.path, authorization))
            if self.path == '/health':
                if fake.health_failures > 0:
                    fake.health_failures -= 1
                    return self._send(fake.health_failure_status)
                return self._send(200)
            if self.path == '/v1/models':
                if fake.api_key and authorization != 'Bearer %s' % fake.api_key:
                    return self._send(401, b'{"error": "Unauthorized"}')
                return self._send(200, fake.models_body())
        return self._send(404, b'{"detail": "Not Found"}')


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FakeVllm(object):
    """A vLLM look-alike: /health and /v1/models, in the states the module has to tell apart."""

    def __init__(self, models=(('my-model', 8192), ), api_key=None, health_failures=0,
                 health_failure_status=503, raw_models_body=None, unix_socket=None):
        self.models = models
        self.api_key = api_key
        self.health_failures = health_failures
        self.health_failure_status = health_failure_status
        self.raw_models_body = raw_models_body
        self.requests = []
        self.lock = threading.Lock()
        if unix_socket:
            self.server = _UnixHTTPServer(unix_socket, _Handler)
            self.url = 'http://localhost'
        else:
            self.server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
            self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.server.fake = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05})
        self.thread.daemon = True
        self.thread.start()

    def models_body(self):
        if self.raw_models_body is not None:
            return self.raw_models_body
        return json.dumps({
            'object': 'list',
            'data': [
                {
                    'id': model_id,
                    'object': 'model',
                    'created': 1764252000,
                    'owned_by': 'vllm',
                    'root': '/models/%s' % model_id,
                    'parent': None,
                    'max_model_len': length,
                    'permission': [],
                }
                for model_id, length in self.models
            ],
        }).encode('utf-8')

    def paths(self):
        return [path for path, dummy in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def vllm():
    servers = []

    def start(**kwargs):
        server = FakeVllm(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _closed_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _probe(args, check_mode=False):
    full = dict(FAST)
    full.update(args)
    return run_module(vllm_health.main, full, check_mode=check_mode)


RETURN_KEYS = {'changed', 'ready', 'models', 'max_model_len', 'elapsed', 'attempts', 'reason'}


READY_CASES = [
    # id, server, module args (url filled in), attempts
    ('ready_at_once', {}, {'model': 'my-model'}, 1),
    ('loading_then_ready', {'health_failures': 3}, {'model': 'my-model'}, 4),
    ('engine_error_then_ready', {'health_failures': 1, 'health_failure_status': 500}, {'model': 'my-model'}, 2),
    ('openai_base_url', {}, {'model': 'my-model', 'url_suffix': '/v1/'}, 1),
    ('several_served_names', {'models': (('llama', 4096), ('my-model', 8192))}, {'model': 'my-model'}, 1),
    ('api_key', {'api_key': API_KEY}, {'model': 'my-model', 'api_key': API_KEY}, 1),
    ('api_key_unused_by_server', {}, {'model': 'my-model', 'api_key': API_KEY}, 1),
]


@pytest.mark.parametrize('server, args, attempts', [case[1:] for case in READY_CASES],
                         ids=[case[0] for case in READY_CASES])
def test_ready(vllm, server, args, attempts):
    fake = vllm(**server)
    args = dict(args)
    args['url'] = fake.url + args.pop('url_suffix', '')
    failed, result = _probe(args)

    assert not failed, result
    assert set(result) == RETURN_KEYS
    assert result['changed'] is False
    assert result['ready'] is True
    assert result['models'] == [model_id for model_id, dummy in fake.models]
    assert result['max_model_len'] == 8192
    assert result['attempts'] == attempts
    assert result['reason'] == "model 'my-model' served"
    assert isinstance(result['elapsed'], float)
    assert result['elapsed'] == round(result['elapsed'], 1)
    assert fake.paths() == ['/health'] * attempts + ['/v1/models']


NOT_READY_CASES = [
    # id, server, module args, reason
    (
        'still_loading',
        {'health_failures': 10 ** 6},
        {'model': 'my-model'},
        '/health answered 503',
    ),
    (
        'wrong_model',
        {'models': (('llama', 4096), ('qwen', 32768))},
        {'model': 'my-model'},
        "model 'my-model' not served; served: [llama, qwen]",
    ),
    (
        'key_missing',
        {'api_key': API_KEY},
        {'model': 'my-model'},
        '/v1/models answered 401: API key rejected or missing',
    ),
    (
        'key_wrong',
        {'api_key': API_KEY},
        {'model': 'my-model', 'api_key': 'sk-wrong-key-9876543210'},
        '/v1/models answered 401: API key rejected or missing',
    ),
    (
        'invalid_json',
        {'raw_models_body': b'<html>502 Bad Gateway</html>'},
        {'model': 'my-model'},
        'invalid JSON from /v1/models',
    ),
]


@pytest.mark.parametrize('server, args, reason', [case[1:] for case in NOT_READY_CASES],
                         ids=[case[0] for case in NOT_READY_CASES])
def test_not_ready(vllm, server, args, reason):
    fake = vllm(**server)
    args = dict(args, url=fake.url, timeout=1)
    failed, result = _probe(args)

    assert failed
    assert result['msg'] == 'vLLM at %s not ready after 1s: %s' % (fake.url, reason)
    assert set(result) == RETURN_KEYS | {'msg', 'failed'}
    assert result['changed'] is False
    assert result['ready'] is False
    assert result['reason'] == reason
    assert result['elapsed'] >= 1.0
    # it kept asking until the deadline instead of giving up at the first answer
    assert result['attempts'] > 2
    assert result['attempts'] == fake.paths().count('/health')


def test_wrong_model_still_reports_what_is_served(vllm):
    fake = vllm(models=(('llama', 4096), ))
    failed, result = _probe({'url': fake.url, 'model': 'my-model', 'timeout': 0})
    assert failed
    assert result['models'] == ['llama']
    assert result['max_model_len'] is None
    assert result['attempts'] == 1


def test_connection_refused():
    url = 'http://127.0.0.1:%d' % _closed_port()
    failed, result = _probe({'url': url, 'model': 'my-model', 'timeout': 1})
    assert failed
    assert result['ready'] is False
    assert result['models'] == []
    assert result['max_model_len'] is None
    assert result['reason'].startswith('GET %s/health failed: ' % url)
    assert 'refused' in result['reason'].lower()
    assert result['msg'] == 'vLLM at %s not ready after 1s: %s' % (url, result['reason'])
    assert result['attempts'] > 2


def test_timeout_zero_asks_once(vllm):
    fake = vllm(health_failures=10 ** 6)
    failed, result = _probe({'url': fake.url, 'model': 'my-model', 'timeout': 0})
    assert failed
    assert result['attempts'] == 1
    assert fake.paths() == ['/health']


def test_bearer_key_sent_to_models_only(vllm):
    fake = vllm(api_key=API_KEY)
    failed, result = _probe({'url': fake.url, 'model': 'my-model', 'api_key': API_KEY})
    assert not failed
    assert fake.requests == [('/health', None), ('/v1/models', 'Bearer %s' % API_KEY)]


@pytest.mark.parametrize('key', [API_KEY, 'sk-wrong-key-9876543210'])
def test_key_never_returned(vllm, key):
    fake = vllm(api_key=API_KEY, models=(('other', 1), ))
    failed, result = _probe({'url': fake.url, 'model': 'my-model', 'api_key': key, 'timeout': 0})
    assert failed
    assert key not in json.dumps(result)
    assert API_KEY not in json.dumps(result)


def test_check_mode_probes_too(vllm):
    fake = vllm()
    failed, result = _probe({'url': fake.url, 'model': 'my-model'}, check_mode=True)
    assert not failed
    assert result['ready'] is True
    assert result['changed'] is False
    assert fake.paths() == ['/health', '/v1/models']


def test_unix_socket(vllm):
    # AF_UNIX paths are short (108 bytes): pytest's tmp_path can be too deep
    directory = tempfile.mkdtemp(prefix='vllm-')
    path = os.path.join(directory, 'vllm.sock')
    try:
        fake = vllm(unix_socket=path, api_key=API_KEY)
        failed, result = _probe({'url': fake.url, 'unix_socket': path, 'model': 'my-model', 'api_key': API_KEY})
        assert not failed, result
        assert result['ready'] is True
        assert fake.paths() == ['/health', '/v1/models']
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(directory)


@pytest.mark.parametrize('args, message', [
    ({'url': '127.0.0.1:8000'}, 'url must start with http:// or https://, got 127.0.0.1:8000'),
    ({'timeout': -1}, 'timeout must not be negative, got -1'),
    ({'interval': -0.5}, 'interval must not be negative, got -0.5'),
    ({'request_timeout': 0}, 'request_timeout must be positive, got 0.0'),
])
def test_invalid_arguments(args, message):
    full = {'model': 'my-model'}
    full.update(args)
    failed, result = run_module(vllm_health.main, full)
    assert failed
    assert result['msg'] == message


def test_model_is_required():
    failed, result = run_module(vllm_health.main, {})
    assert failed
    assert 'model' in result['msg']
