# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's public IP address service (tests/lab/ip_echo.py), run as the lab runs it: a process of its own."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket
import subprocess
import sys
import urllib.request

import pytest

from ansible_collections.hpc.vllm.plugins.module_utils._node_diagnostics import discover_public_ip

IP_ECHO = os.path.join(os.path.dirname(__file__), '..', '..', 'lab', 'ip_echo.py')


def _ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.bind(('::1', 0))
        sock.close()
    except OSError:
        return False
    return True


@pytest.fixture
def ip_echo(monkeypatch):
    """Start ip_echo.py on an address and a free port; return the port."""
    for name in ('http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    processes = []

    def start(address):
        process = subprocess.Popen([sys.executable, IP_ECHO, address, '0'], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, universal_newlines=True)
        processes.append(process)
        line = process.stdout.readline()
        assert line.startswith('ip_echo listening on '), line + process.stderr.read()
        return int(line.split()[-1])

    yield start
    for process in processes:
        process.terminate()
        process.wait(10)
        process.stdout.close()
        process.stderr.close()


def _get(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.status, response.headers.get('Content-Type'), response.read()


def test_answers_the_client_address(ip_echo):
    port = ip_echo('127.0.0.1')
    status, content_type, body = _get('http://127.0.0.1:%d/' % port)
    assert status == 200
    assert content_type.startswith('text/plain')
    assert body == b'127.0.0.1\n'


def test_answers_every_path(ip_echo):
    port = ip_echo('127.0.0.1')
    assert _get('http://127.0.0.1:%d/ip?format=text' % port)[2] == b'127.0.0.1\n'


def test_is_what_node_diagnostics_reads(ip_echo):
    port = ip_echo('127.0.0.1')
    assert discover_public_ip('http://127.0.0.1:%d/' % port, 3.0) == ('127.0.0.1', None)


@pytest.mark.skipif(not _ipv6_loopback(), reason='no IPv6 loopback here')
def test_dual_stack(ip_echo):
    port = ip_echo('::')
    # an IPv4 client is told its IPv4 address, not ::ffff:127.0.0.1
    assert _get('http://127.0.0.1:%d/' % port)[2] == b'127.0.0.1\n'
    assert _get('http://[::1]:%d/' % port)[2] == b'::1\n'
    assert discover_public_ip('http://[::1]:%d/' % port, 3.0) == ('::1', None)


def test_usage():
    process = subprocess.run([sys.executable, IP_ECHO, '127.0.0.1'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=30, check=False)
    assert process.returncode == 1
    assert process.stderr == 'usage: ip_echo.py BIND_ADDRESS PORT\n'
