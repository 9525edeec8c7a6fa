# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run hpc.vllm.port_probe against real sockets on the loopback; nothing leaves this machine."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import socket
import time
from unittest import mock

import pytest

from ansible_collections.hpc.vllm.plugins.module_utils import _port_probe
from ansible_collections.hpc.vllm.plugins.modules import port_probe
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module


RETURN_KEYS = {'changed', 'results', 'reachable', 'first_reachable', 'all_reachable'}
ENTRY_KEYS = {'host', 'port', 'reachable', 'latency_ms', 'address', 'error'}


def _ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        sock.bind(('::1', 0))
        return True
    except OSError:
        return False
    finally:
        sock.close()


HAS_IPV6_LOOPBACK = _ipv6_loopback()


def _listen(family=socket.AF_INET, address='127.0.0.1'):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.listen(16)
    return sock


def _closed_port(family=socket.AF_INET, address='127.0.0.1'):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((address, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def listening():
    """Open listening sockets on the loopback; the kernel completes the handshake without accept()."""
    sockets = []

    def open_one(family=socket.AF_INET, address='127.0.0.1'):
        sock = _listen(family, address)
        sockets.append(sock)
        return sock.getsockname()[1]

    yield open_one
    for sock in sockets:
        sock.close()


def _probe(args, check_mode=False):
    return run_module(port_probe.main, args, check_mode=check_mode)


def _timing_out(address, timeout=None):
    raise socket.timeout('timed out')


def test_listening_port(listening):
    port = listening()
    failed, result = _probe({'candidates': ['127.0.0.1:%d' % port]})
    assert not failed, result
    assert set(result) == RETURN_KEYS
    assert result['changed'] is False
    entry = result['results'][0]
    assert set(entry) == ENTRY_KEYS
    assert entry['host'] == '127.0.0.1'
    assert entry['port'] == port
    assert entry['reachable'] is True
    assert entry['address'] == '127.0.0.1'
    assert entry['error'] is None
    assert isinstance(entry['latency_ms'], float)
    assert entry['latency_ms'] >= 0
    assert entry['latency_ms'] == round(entry['latency_ms'], 2)
    assert result['reachable'] == [entry]
    assert result['first_reachable'] == entry
    assert result['all_reachable'] is True


UNREACHABLE_CASES = [
    # id, candidate (PORT becomes a closed port), error
    ('closed_port', '127.0.0.1:PORT', 'connection refused'),
    ('closed_port_by_name', 'localhost:PORT', 'connection refused'),
    ('unknown_name', 'nonexistent.invalid:22', 'name or service not known'),
]


@pytest.mark.parametrize('candidate, error', [case[1:] for case in UNREACHABLE_CASES],
                         ids=[case[0] for case in UNREACHABLE_CASES])
def test_unreachable(candidate, error):
    candidate = candidate.replace('PORT', str(_closed_port()))
    failed, result = _probe({'candidates': [candidate]})
    assert not failed, result
    entry = result['results'][0]
    assert set(entry) == ENTRY_KEYS
    assert entry['reachable'] is False
    assert entry['latency_ms'] is None
    assert entry['address'] is None
    assert entry['error'] == error
    assert result['reachable'] == []
    assert result['first_reachable'] is None
    assert result['all_reachable'] is False


def test_timeout(listening):
    # a real timeout needs a host that drops SYNs; none may be contacted from a unit test
    port = listening()
    with mock.patch.object(_port_probe.socket, 'create_connection', _timing_out):
        failed, result = _probe({'candidates': ['127.0.0.1:%d' % port], 'timeout': 3})
    assert not failed, result
    assert result['results'][0]['error'] == 'timed out after 3.0s'
    assert result['results'][0]['reachable'] is False


def test_dead_hosts_cost_one_timeout(listening):
    port = listening()

    def slow_timeout(address, timeout=None):
        time.sleep(timeout)
        raise socket.timeout('timed out')

    with mock.patch.object(_port_probe.socket, 'create_connection', slow_timeout):
        started = time.monotonic()
        failed, result = _probe({'candidates': ['127.0.0.1:%d' % port] * 6, 'timeout': 0.4})
        elapsed = time.monotonic() - started
    assert not failed
    assert [entry['error'] for entry in result['results']] == ['timed out after 0.4s'] * 6
    assert elapsed < 6 * 0.4 / 2


@pytest.mark.skipif(not HAS_IPV6_LOOPBACK, reason='this host has no IPv6 loopback (::1) to listen on')
def test_ipv6_loopback(listening):
    port = listening(socket.AF_INET6, '::1')
    closed = _closed_port(socket.AF_INET6, '::1')
    failed, result = _probe({'candidates': ['[::1]:%d' % port, {'host': '::1', 'port': closed}]})
    assert not failed, result
    opened, refused = result['results']
    assert opened['host'] == '::1'
    assert opened['reachable'] is True
    assert opened['address'] == '::1'
    assert opened['latency_ms'] >= 0
    assert refused['reachable'] is False
    assert refused['error'] == 'connection refused'


def test_default_port(listening):
    port = listening()
    failed, result = _probe({'candidates': ['127.0.0.1', {'host': '127.0.0.1'}], 'default_port': port})
    assert not failed, result
    assert [entry['port'] for entry in result['results']] == [port, port]
    assert result['all_reachable'] is True


def test_attempts(listening):
    port = listening()
    with mock.patch.object(_port_probe.socket, 'create_connection',
                           wraps=_port_probe.socket.create_connection) as connect:
        failed, result = _probe({'candidates': ['127.0.0.1:%d' % port], 'attempts': 3})
    assert not failed, result
    assert connect.call_count == 3
    assert result['results'][0]['reachable'] is True


def test_order_extra_keys_and_choice(listening):
    first, second = listening(), listening()
    candidates = [
        {'host': '127.0.0.1', 'port': _closed_port(), 'user': 'alice', 'name': 'login1'},
        'nonexistent.invalid:22',
        {'host': '127.0.0.1', 'port': first, 'user': 'bob', 'name': 'login3'},
        '127.0.0.1:%d' % _closed_port(),
        {'host': 'localhost', 'port': second, 'user': 'carol', 'name': 'login5', 'options': {'ServerAliveInterval': 15}},
    ]
    failed, result = _probe({'candidates': candidates})
    assert not failed, result
    results = result['results']
    assert [entry['reachable'] for entry in results] == [False, False, True, False, True]
    assert [entry.get('name') for entry in results] == ['login1', None, 'login3', None, 'login5']
    assert [entry.get('user') for entry in results] == ['alice', None, 'bob', None, 'carol']
    assert results[4]['options'] == {'ServerAliveInterval': 15}
    assert results[0]['error'] == 'connection refused'
    assert results[1]['error'] == 'name or service not known'
    assert result['reachable'] == [results[2], results[4]]
    assert result['first_reachable'] == results[2]
    assert result['first_reachable']['user'] == 'bob'
    assert result['all_reachable'] is False


def test_order_under_concurrency(listening):
    # reachable and refused candidates interleaved, more than run at once would be in order by luck only
    open_ports = [listening() for dummy in range(20)]
    candidates = []
    for index, port in enumerate(open_ports):
        candidates.append({'host': '127.0.0.1', 'port': port, 'rank': 2 * index})
        candidates.append({'host': '127.0.0.1', 'port': _closed_port(), 'rank': 2 * index + 1})
    failed, result = _probe({'candidates': candidates})
    assert not failed, result
    assert [entry['rank'] for entry in result['results']] == list(range(40))
    assert [entry['reachable'] for entry in result['results']] == [True, False] * 20
    assert [entry['rank'] for entry in result['reachable']] == list(range(0, 40, 2))


def test_check_mode_probes_too(listening):
    port = listening()
    failed, result = _probe({'candidates': ['127.0.0.1:%d' % port]}, check_mode=True)
    assert not failed
    assert result['changed'] is False
    assert result['results'][0]['reachable'] is True


def test_require_any_passes_with_one(listening):
    port = listening()
    failed, result = _probe({'candidates': ['127.0.0.1:%d' % _closed_port(), '127.0.0.1:%d' % port],
                             'require_any': True})
    assert not failed, result
    assert result['first_reachable']['port'] == port


def test_require_any_fails_listing_each(listening):
    closed = _closed_port()
    candidates = ['127.0.0.1:%d' % closed, 'nonexistent.invalid']
    if HAS_IPV6_LOOPBACK:
        candidates.append({'host': '::1', 'port': _closed_port(socket.AF_INET6, '::1'), 'user': 'alice'})
    failed, result = _probe({'candidates': candidates, 'require_any': True})
    assert failed
    expected = ['127.0.0.1:%d (connection refused)' % closed, 'nonexistent.invalid:22 (name or service not known)']
    if HAS_IPV6_LOOPBACK:
        expected.append('[::1]:%d (connection refused)' % candidates[2]['port'])
    assert result['msg'] == 'no candidate is reachable: ' + ', '.join(expected)
    assert set(result) == RETURN_KEYS | {'msg', 'failed'}
    assert result['first_reachable'] is None
    assert len(result['results']) == len(candidates)


def test_require_any_timeout_message(listening):
    port = listening()
    with mock.patch.object(_port_probe.socket, 'create_connection', _timing_out):
        failed, result = _probe({'candidates': ['127.0.0.1:%d' % port], 'timeout': 1.5, 'require_any': True})
    assert failed
    assert result['msg'] == 'no candidate is reachable: 127.0.0.1:%d (timed out after 1.5s)' % port


INVALID_CASES = [
    # id, module args, message
    ('port_zero', {'candidates': ['login1:22', 'login2:0']},
     "candidates[1]: the port of 'login2:0' must be an integer from 1 to 65535, got 0"),
    ('port_too_high', {'candidates': ['login1:70000']},
     "candidates[0]: the port of 'login1:70000' must be an integer from 1 to 65535, got 70000"),
    ('port_not_a_number', {'candidates': ['login1:ssh']},
     "candidates[0]: the port of 'login1:ssh' must be an integer from 1 to 65535, got 'ssh'"),
    ('dict_port_too_high', {'candidates': [{'host': 'login1', 'port': 70000}]},
     "candidates[0]: 'port' must be an integer from 1 to 65535, got 70000"),
    ('dict_port_not_a_number', {'candidates': [{'host': 'login1', 'port': 'ssh'}]},
     "candidates[0]: 'port' must be an integer from 1 to 65535, got 'ssh'"),
    ('empty_host', {'candidates': ['login1', ':22']},
     "candidates[1]: the host is empty; expected a 'host', 'host:port' or '[IPv6 address]:port' string, "
     "or a dict with 'host' and optional 'port'"),
    ('dict_without_host', {'candidates': [{'port': 22, 'user': 'alice'}]},
     "candidates[0]: a dict needs a 'host' key; expected a 'host', 'host:port' or '[IPv6 address]:port' string, "
     "or a dict with 'host' and optional 'port'"),
    ('three_parts', {'candidates': ['login1:22:extra']},
     "candidates[0]: 'login1:22:extra' has more than one ':'; write an IPv6 address in brackets, "
     "as '[2001:db8::1]:22'"),
    ('bare_ipv6', {'candidates': ['::1']},
     "candidates[0]: '::1' has more than one ':'; write an IPv6 address in brackets, as '[2001:db8::1]:22'"),
    ('number', {'candidates': [22]},
     "candidates[0]: got int; expected a 'host', 'host:port' or '[IPv6 address]:port' string, "
     "or a dict with 'host' and optional 'port'"),
    ('no_candidates', {'candidates': []}, 'candidates must list at least one host'),
    ('default_port', {'candidates': ['login1'], 'default_port': 0},
     'default_port must be an integer from 1 to 65535, got 0'),
    ('timeout', {'candidates': ['login1'], 'timeout': 0}, 'timeout must be positive, got 0.0'),
    ('attempts', {'candidates': ['login1'], 'attempts': 0}, 'attempts must be at least 1, got 0'),
]


@pytest.mark.parametrize('args, message', [case[1:] for case in INVALID_CASES],
                         ids=[case[0] for case in INVALID_CASES])
def test_invalid_arguments(args, message):
    with mock.patch.object(_port_probe.socket, 'create_connection') as connect:
        failed, result = _probe(args)
    assert failed
    assert result['msg'] == message
    # nothing was probed before the arguments were found wrong
    assert connect.call_count == 0


def test_candidates_are_required():
    failed, result = _probe({})
    assert failed
    assert 'candidates' in result['msg']
