# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A real HTTP server on 127.0.0.1 plays vLLM; the key file is a real file."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.hpc.vllm.plugins.modules import endpoint_check
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module

KEY = 'sk-test-0123456789'


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200 if self.path == '/health' else 404, {})

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        self.server.seen.append((self.headers.get('Authorization'), request))
        if self.headers.get('Authorization') != 'Bearer %s' % KEY:
            self._send(401, {'error': 'Unauthorized'})
        else:
            self._send(200, {'choices': [{'message': {'content': 'x'}}], 'usage': {'completion_tokens': 1}})


@pytest.fixture
def vllm():
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_health_listeners_and_a_completion_with_the_key_from_its_file(vllm, tmp_path):
    key_file = tmp_path / 'a.key'
    key_file.write_text(KEY + '\n')
    port = vllm.server_address[1]
    failed, result = run_module(endpoint_check.main, {'endpoints': [
        {'port': port, 'model': 'tiny-llama', 'key_file': str(key_file)}]}, check_mode=True)

    assert not failed, result
    assert result['changed'] is False
    [entry] = result['endpoints']
    assert entry['health_status'] == 200 and entry['health_msg'] == ''
    assert entry['completion_status'] == 200
    assert entry['completion_json']['usage'] == {'completion_tokens': 1}
    assert [listener['ours'] for listener in entry['listeners']] == [True]
    assert vllm.seen[0][1]['model'] == 'tiny-llama' and vllm.seen[0][1]['max_tokens'] == 1
    # the key went in the header only: never in the module's result
    assert KEY not in json.dumps(result)


def test_a_missing_key_file_sends_no_key_and_vllm_refuses(vllm, tmp_path):
    failed, result = run_module(endpoint_check.main, {'endpoints': [
        {'port': vllm.server_address[1], 'model': 'tiny-llama', 'key_file': str(tmp_path / 'none.key')}]})
    assert not failed
    assert result['endpoints'][0]['completion_status'] == 401
    assert vllm.seen[0][0] is None


def test_nobody_listens(tmp_path):
    port = free_port()
    failed, result = run_module(endpoint_check.main, {'endpoints': [{'port': port}], 'timeout': 1})
    assert not failed
    assert result['endpoints'] == [{
        'port': port, 'listeners': [], 'health_status': -1, 'completion_status': None, 'completion_msg': '',
        'completion_json': None, 'health_msg': result['endpoints'][0]['health_msg']}]
    assert 'Connection refused' in result['endpoints'][0]['health_msg']


@pytest.mark.parametrize('args, message', [
    ({'endpoints': [{'port': 0}]}, 'endpoints[].port must be from 1 to 65535, got 0'),
    ({'endpoints': [{'port': 8000}], 'timeout': 0}, 'timeout must be positive, got 0.0'),
])
def test_bad_arguments(args, message):
    failed, result = run_module(endpoint_check.main, args)
    assert failed and result['msg'] == message
