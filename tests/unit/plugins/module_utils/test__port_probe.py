# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import errno
import socket
import threading
import time
from unittest import mock

import pytest

from ansible_collections.hpc.vllm.plugins.module_utils import _port_probe
from ansible_collections.hpc.vllm.plugins.module_utils._port_probe import (
    check_port,
    describe_error,
    endpoint,
    parse_candidate,
    parse_candidates,
    probe,
    probe_all,
)


PARSE_SUCCESS = [
    # id, candidate, expected (default_port 22)
    ('name', 'login1.example.org', {'host': 'login1.example.org', 'port': 22}),
    ('name_port', 'login1.example.org:2222', {'host': 'login1.example.org', 'port': 2222}),
    ('ipv4_port', '192.0.2.1:22', {'host': '192.0.2.1', 'port': 22}),
    ('ipv4', '192.0.2.1', {'host': '192.0.2.1', 'port': 22}),
    ('ipv6_port', '[2001:db8::1]:2222', {'host': '2001:db8::1', 'port': 2222}),
    ('ipv6', '[2001:db8::1]', {'host': '2001:db8::1', 'port': 22}),
    ('ipv6_loopback', '[::1]:65535', {'host': '::1', 'port': 65535}),
    ('ipv6_zone', '[fe80::1%eth0]:22', {'host': 'fe80::1%eth0', 'port': 22}),
    ('outer_spaces', '  login1:22 ', {'host': 'login1', 'port': 22}),
    ('lowest_port', 'login1:1', {'host': 'login1', 'port': 1}),
    ('dict', {'host': 'login1', 'port': 2222}, {'host': 'login1', 'port': 2222}),
    ('dict_default_port', {'host': 'login1'}, {'host': 'login1', 'port': 22}),
    ('dict_port_none', {'host': 'login1', 'port': None}, {'host': 'login1', 'port': 22}),
    ('dict_port_string', {'host': 'login1', 'port': '2222'}, {'host': 'login1', 'port': 2222}),
    ('dict_ipv6', {'host': '2001:db8::1', 'port': 22}, {'host': '2001:db8::1', 'port': 22}),
    ('dict_ipv6_brackets', {'host': '[2001:db8::1]', 'port': 22}, {'host': '2001:db8::1', 'port': 22}),
    (
        'dict_extra_keys',
        {'user': 'alice', 'host': 'login1', 'port': 22, 'tags': ['campus']},
        {'host': 'login1', 'port': 22, 'user': 'alice', 'tags': ['campus']},
    ),
]


@pytest.mark.parametrize('candidate, expected', [case[1:] for case in PARSE_SUCCESS],
                         ids=[case[0] for case in PARSE_SUCCESS])
def test_parse_candidate(candidate, expected):
    assert parse_candidate(candidate, 22) == expected


def test_parse_candidate_leaves_the_dict_alone():
    candidate = {'host': '[::1]', 'user': 'alice'}
    parse_candidate(candidate, 22)
    assert candidate == {'host': '[::1]', 'user': 'alice'}


PARSE_FAILURE = [
    # id, candidate, message
    ('empty', '', "the host is empty; expected a 'host', 'host:port'"),
    ('blank', '   ', 'the host is empty'),
    ('no_host', ':22', 'the host is empty'),
    ('empty_brackets', '[]:22', "'[]:22': only an IPv6 address goes in brackets"),
    ('port_zero', 'login1:0', "the port of 'login1:0' must be an integer from 1 to 65535, got 0"),
    ('port_too_high', 'login1:70000', "the port of 'login1:70000' must be an integer from 1 to 65535, got 70000"),
    ('port_word', 'login1:ssh', "the port of 'login1:ssh' must be an integer from 1 to 65535, got 'ssh'"),
    ('port_empty', 'login1:', "the port of 'login1:' must be an integer from 1 to 65535, got ''"),
    ('port_negative', 'login1:-1', "got '-1'"),
    ('port_signed', 'login1:+22', "got '+22'"),
    ('port_float', 'login1:22.0', "got '22.0'"),
    ('port_newline', 'login1:22\n\n1', "got '22\\n\\n1'"),
    ('three_parts', 'login1:22:33', "'login1:22:33' has more than one ':'; write an IPv6 address in brackets"),
    ('bare_ipv6', '2001:db8::1', "has more than one ':'; write an IPv6 address in brackets, as '[2001:db8::1]:22'"),
    ('unclosed_bracket', '[2001:db8::1:22', "'[2001:db8::1:22' has no closing ']'"),
    ('name_in_brackets', '[login1]:22', "'[login1]:22': only an IPv6 address goes in brackets"),
    ('junk_after_bracket', '[::1]22', "'[::1]22': only ':port' may follow ']'"),
    ('ipv6_port_zero', '[::1]:0', "the port of '[::1]:0' must be an integer from 1 to 65535, got 0"),
    ('inner_space', 'login1 22', "the host 'login1 22' contains whitespace"),
    ('dict_no_host', {'port': 22}, "a dict needs a 'host' key"),
    ('dict_empty_host', {'host': '', 'port': 22}, 'the host is empty'),
    ('dict_none_host', {'host': None}, 'the host is empty'),
    ('dict_empty_brackets', {'host': '[]'}, 'the host is empty'),
    ('dict_host_with_port', {'host': 'login1:22'}, "the host 'login1:22' holds a ':'; put the port in 'port'"),
    ('dict_port_zero', {'host': 'login1', 'port': 0}, "'port' must be an integer from 1 to 65535, got 0"),
    ('dict_port_too_high', {'host': 'login1', 'port': 70000}, "'port' must be an integer from 1 to 65535, got 70000"),
    ('dict_port_word', {'host': 'login1', 'port': 'ssh'}, "'port' must be an integer from 1 to 65535, got 'ssh'"),
    ('dict_port_bool', {'host': 'login1', 'port': True}, "'port' must be an integer from 1 to 65535, got True"),
    ('dict_port_float', {'host': 'login1', 'port': 22.5}, "'port' must be an integer from 1 to 65535, got 22.5"),
    ('number', 22, 'got int; expected'),
    ('list', ['login1', 22], 'got list; expected'),
    ('none', None, 'got NoneType; expected'),
]


@pytest.mark.parametrize('candidate, message', [case[1:] for case in PARSE_FAILURE],
                         ids=[case[0] for case in PARSE_FAILURE])
def test_parse_candidate_fails(candidate, message):
    with pytest.raises(ValueError) as exc:
        parse_candidate(candidate, 22)
    assert message in str(exc.value)


def test_parse_candidates_names_the_index():
    with pytest.raises(ValueError) as exc:
        parse_candidates(['login1', {'host': 'login2'}, 'login3:70000'], 22)
    assert str(exc.value) == (
        "candidates[2]: the port of 'login3:70000' must be an integer from 1 to 65535, got 70000")


def test_parse_candidates_applies_default_port():
    assert parse_candidates(['login1', 'login2:22', {'host': 'login3'}], 2222) == [
        {'host': 'login1', 'port': 2222},
        {'host': 'login2', 'port': 22},
        {'host': 'login3', 'port': 2222},
    ]


@pytest.mark.parametrize('candidates, default_port, message', [
    ([], 22, 'candidates must list at least one host'),
    (['login1'], 0, 'default_port must be an integer from 1 to 65535, got 0'),
    (['login1'], 70000, 'default_port must be an integer from 1 to 65535, got 70000'),
])
def test_parse_candidates_fails(candidates, default_port, message):
    with pytest.raises(ValueError) as exc:
        parse_candidates(candidates, default_port)
    assert str(exc.value) == message


@pytest.mark.parametrize('value, expected', [(1, 1), (22, 22), ('22', 22), (65535, 65535)])
def test_check_port(value, expected):
    assert check_port(value, 'port') == expected


@pytest.mark.parametrize('host, port, expected', [
    ('login1', 22, 'login1:22'),
    ('192.0.2.1', 2222, '192.0.2.1:2222'),
    ('2001:db8::1', 22, '[2001:db8::1]:22'),
])
def test_endpoint(host, port, expected):
    assert endpoint(host, port) == expected


@pytest.mark.parametrize('exc, expected', [
    (socket.gaierror(socket.EAI_NONAME, 'nodename nor servname provided, or not known'), 'name or service not known'),
    (socket.gaierror(socket.EAI_AGAIN, 'Temporary failure in name resolution'), 'temporary failure in name resolution'),
    (UnicodeError('label empty or too long'), 'invalid host name'),
    (socket.timeout('timed out'), 'timed out after 3.0s'),
    (OSError(errno.ETIMEDOUT, 'Connection timed out'), 'timed out after 3.0s'),
    (ConnectionRefusedError(errno.ECONNREFUSED, 'Connection refused'), 'connection refused'),
    (OSError(errno.EHOSTUNREACH, 'No route to host'), 'no route to host'),
    (OSError(errno.ENETUNREACH, 'Network is unreachable'), 'network is unreachable'),
    (OSError('something odd'), 'something odd'),
    (OSError(), 'OSError'),
])
def test_describe_error(exc, expected):
    assert describe_error(exc, 3) == expected


class FakeNetwork(object):
    """Stands in for getaddrinfo and create_connection: every address answers as told, after a delay."""

    def __init__(self, names, answers, delays=None):
        self.names = names
        self.answers = answers
        self.delays = delays or {}
        self.calls = []
        self.lock = threading.Lock()

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # pylint: disable=redefined-builtin
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
        return [
            (socket.AF_INET6 if ':' in address else socket.AF_INET, socket.SOCK_STREAM, 6, '',
             (address, port) if ':' not in address else (address, port, 0, 0))
            for address in self.names[host]
        ]

    def create_connection(self, address, timeout=None):
        with self.lock:
            self.calls.append(address)
        time.sleep(self.delays.get(address[0], 0))
        answer = self.answers.get(address[0], 'open')
        if answer == 'open':
            return mock.MagicMock()
        if answer == 'refused':
            raise ConnectionRefusedError(errno.ECONNREFUSED, 'Connection refused')
        if answer == 'timeout':
            raise socket.timeout('timed out')
        raise OSError(errno.EHOSTUNREACH, 'No route to host')


@pytest.fixture
def network():
    def install(names, answers=None, delays=None):
        fake = FakeNetwork(names, answers or {}, delays)
        patches = [
            mock.patch.object(_port_probe.socket, 'getaddrinfo', fake.getaddrinfo),
            mock.patch.object(_port_probe.socket, 'create_connection', fake.create_connection),
        ]
        for patch in patches:
            patch.start()
        started.extend(patches)
        return fake

    started = []
    yield install
    for patch in started:
        patch.stop()


PROBE_CASES = [
    # id, addresses of 'login1', answers, reachable, address, error
    ('open', ['192.0.2.1'], {}, True, '192.0.2.1', None),
    ('refused', ['192.0.2.1'], {'192.0.2.1': 'refused'}, False, None, 'connection refused'),
    ('timeout', ['192.0.2.1'], {'192.0.2.1': 'timeout'}, False, None, 'timed out after 0.5s'),
    ('ipv6_dead_ipv4_open', ['2001:db8::1', '192.0.2.1'], {'2001:db8::1': 'unreachable'}, True, '192.0.2.1', None),
    ('ipv6_first', ['2001:db8::1', '192.0.2.1'], {}, True, '2001:db8::1', None),
    (
        'all_alike',
        ['2001:db8::1', '192.0.2.1'],
        {'2001:db8::1': 'timeout', '192.0.2.1': 'timeout'},
        False, None, 'timed out after 0.5s',
    ),
    (
        'each_its_own',
        ['2001:db8::1', '192.0.2.1'],
        {'2001:db8::1': 'unreachable', '192.0.2.1': 'refused'},
        False, None, '2001:db8::1: no route to host; 192.0.2.1: connection refused',
    ),
    ('no_address', [], {}, False, None, 'no address for this name'),
]


@pytest.mark.parametrize('addresses, answers, reachable, address, error', [case[1:] for case in PROBE_CASES],
                         ids=[case[0] for case in PROBE_CASES])
def test_probe(network, addresses, answers, reachable, address, error):
    network({'login1': addresses}, answers)
    result = probe({'host': 'login1', 'port': 22, 'user': 'alice'}, 0.5)
    assert result['host'] == 'login1'
    assert result['port'] == 22
    assert result['user'] == 'alice'
    assert result['reachable'] is reachable
    assert result['address'] == address
    assert result['error'] == error
    if reachable:
        assert result['latency_ms'] >= 0
        assert result['latency_ms'] == round(result['latency_ms'], 2)
    else:
        assert result['latency_ms'] is None


def test_probe_unknown_name(network):
    fake = network({})
    result = probe({'host': 'nonexistent.invalid', 'port': 22}, 0.5)
    assert result['reachable'] is False
    assert result['error'] == 'name or service not known'
    assert fake.calls == []


def test_probe_replaces_keys_of_its_own(network):
    network({})
    candidate = {'host': 'nonexistent.invalid', 'port': 22, 'reachable': True, 'error': None}
    result = probe(candidate, 0.5)
    assert result['reachable'] is False
    assert result['error'] == 'name or service not known'
    assert candidate['reachable'] is True


def test_probe_attempts_keep_the_fastest(network):
    fake = network({'login1': ['192.0.2.1']})
    timings = iter([0.0, 0.030, 0.0, 0.010, 0.0, 0.020])
    with mock.patch.object(_port_probe.time, 'monotonic', lambda: next(timings)):
        result = probe({'host': 'login1', 'port': 22}, 0.5, attempts=3)
    assert result['latency_ms'] == 10.0
    assert fake.calls == [('192.0.2.1', 22)] * 3


def test_probe_reachable_when_one_attempt_opens(network):
    answers = iter(['timeout', 'open'])
    fake = network({'login1': ['192.0.2.1']})
    original = fake.create_connection

    def flaky(address, timeout=None):
        fake.answers[address[0]] = next(answers)
        return original(address, timeout)

    with mock.patch.object(_port_probe.socket, 'create_connection', flaky):
        result = probe({'host': 'login1', 'port': 22}, 0.5, attempts=2)
    assert result['reachable'] is True
    assert result['error'] is None


def test_probe_all_keeps_order_and_runs_side_by_side(network):
    hosts = ['login%d' % index for index in range(8)]
    # the first candidates answer last; in sequence this would take 8 x 0.3s
    names = dict((host, ['192.0.2.%d' % index]) for index, host in enumerate(hosts))
    delays = dict(('192.0.2.%d' % index, 0.3 - 0.03 * index) for index in range(8))
    answers = dict(('192.0.2.%d' % index, 'timeout' if index % 2 else 'open') for index in range(8))
    network(names, answers, delays)
    started = time.monotonic()
    results = probe_all([{'host': host, 'port': 22, 'rank': index} for index, host in enumerate(hosts)], 0.3)
    elapsed = time.monotonic() - started
    assert [entry['host'] for entry in results] == hosts
    assert [entry['rank'] for entry in results] == list(range(8))
    assert [entry['reachable'] for entry in results] == [index % 2 == 0 for index in range(8)]
    assert elapsed < 8 * 0.3 / 2


def test_probe_all_bounds_the_pool(network):
    network(dict(('login%d' % index, ['192.0.2.%d' % index]) for index in range(5)))
    with mock.patch.object(_port_probe, 'ThreadPoolExecutor', wraps=_port_probe.ThreadPoolExecutor) as pool:
        results = probe_all([{'host': 'login%d' % index, 'port': 22} for index in range(5)], 0.5, max_workers=2)
    assert pool.call_args == mock.call(max_workers=2)
    assert all(entry['reachable'] for entry in results)


def test_probe_all_empty():
    assert probe_all([], 1) == []


ALL_ADDRESSES_CASES = [
    # id, addresses of 'login', answers, reachable, address, per-address reachability, error
    ('both_open', ['192.0.2.1', '192.0.2.2'], {}, True, '192.0.2.1', [True, True], None),
    ('first_dead', ['192.0.2.1', '192.0.2.2'], {'192.0.2.1': 'refused'}, True, '192.0.2.2', [False, True], None),
    ('second_dead', ['192.0.2.1', '192.0.2.2'], {'192.0.2.2': 'timeout'}, True, '192.0.2.1', [True, False], None),
    (
        'both_dead',
        ['192.0.2.1', '192.0.2.2'],
        {'192.0.2.1': 'refused', '192.0.2.2': 'unreachable'},
        False, None, [False, False], '192.0.2.1: connection refused; 192.0.2.2: no route to host',
    ),
    ('no_address', [], {}, False, None, [], 'no address for this name'),
]


@pytest.mark.parametrize('addresses, answers, reachable, address, each, error',
                         [case[1:] for case in ALL_ADDRESSES_CASES], ids=[case[0] for case in ALL_ADDRESSES_CASES])
def test_probe_all_addresses(network, addresses, answers, reachable, address, each, error):
    """A round-robin alias: every address is probed and reported, not only the first that answers."""
    fake = network({'login': addresses}, answers)
    result = probe({'host': 'login', 'port': 22, 'user': 'alice'}, 0.5, all_addresses=True)
    assert result['reachable'] is reachable
    assert result['address'] == address
    assert result['error'] == error
    assert [entry['address'] for entry in result['addresses']] == addresses
    assert [entry['reachable'] for entry in result['addresses']] == each
    for entry in result['addresses']:
        assert (entry['latency_ms'] is None) is (not entry['reachable'])
        assert (entry['error'] is None) is entry['reachable']
    # every address was tried, even after the first one answered
    assert sorted(call[0] for call in fake.calls) == sorted(addresses)
    assert result['user'] == 'alice'


def test_probe_all_addresses_unknown_name(network):
    network({})
    result = probe({'host': 'nonexistent.invalid', 'port': 22}, 0.5, all_addresses=True)
    assert result['addresses'] == []
    assert result['error'] == 'name or service not known'


def test_probe_without_all_addresses_stops_at_the_first(network):
    fake = network({'login': ['192.0.2.1', '192.0.2.2']})
    result = probe({'host': 'login', 'port': 22}, 0.5)
    assert 'addresses' not in result
    assert fake.calls == [('192.0.2.1', 22)]


def test_probe_all_passes_all_addresses(network):
    network({'login': ['192.0.2.1', '192.0.2.2']})
    results = probe_all([{'host': 'login', 'port': 22}], 0.5, all_addresses=True)
    assert len(results[0]['addresses']) == 2
