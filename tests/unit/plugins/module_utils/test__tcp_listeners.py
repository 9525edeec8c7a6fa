# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket

import pytest

from ansible_collections.hpc.vllm.plugins.module_utils._tcp_listeners import (
    TABLES,
    decode_address,
    listeners,
    parse_table,
    unprivileged_port_start,
)

HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'
# Lines as a Linux kernel (little-endian) writes them.
TCP4 = HEADER + (
    '   0: 0100007F:1F54 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1501        0 4242 1\n'
    '   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1\n'
    '   2: 0100007F:1F54 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1500        0 4243 1\n'
    '   3: 0200000A:1F55 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1500        0 4244 1\n'
)
TCP6 = HEADER + (
    '   0: 00000000000000000000000001000000:1F54 00000000000000000000000000000000:0000 0A '
    '00000000:00000000 00:00000000 00000000  1500        0 5555 1\n'
)


@pytest.mark.parametrize('hex_address, family, expected', [
    ('0100007F', socket.AF_INET, '127.0.0.1'),
    ('00000000', socket.AF_INET, '0.0.0.0'),
    ('0200000A', socket.AF_INET, '10.0.0.2'),
    ('00000000000000000000000001000000', socket.AF_INET6, '::1'),
    ('00000000000000000000000000000000', socket.AF_INET6, '::'),
])
def test_decode_address(hex_address, family, expected):
    assert decode_address(hex_address, family) == expected


def test_parse_table_keeps_listeners_on_the_ports_asked():
    # 8020 = 0x1F54: the established connection (st 01) on the same port is no listener
    assert parse_table(TCP4, socket.AF_INET, {8020}) == [(8020, '127.0.0.1', 1501)]
    assert parse_table(TCP4, socket.AF_INET, {8020, 8021, 22}) == [
        (8020, '127.0.0.1', 1501), (22, '0.0.0.0', 0), (8021, '10.0.0.2', 1500)]
    assert parse_table(TCP4, socket.AF_INET, {9999}) == []
    assert parse_table(TCP6, socket.AF_INET6, {8020}) == [(8020, '::1', 1500)]


def test_listeners_reads_both_tables_and_skips_missing_ones(tmp_path):
    (tmp_path / 'tcp').write_text(TCP4)
    (tmp_path / 'tcp6').write_text(TCP6)
    tables = ((str(tmp_path / 'tcp'), socket.AF_INET), (str(tmp_path / 'tcp6'), socket.AF_INET6),
              (str(tmp_path / 'missing'), socket.AF_INET))
    assert listeners([8020, 8030], tables) == {8020: [('127.0.0.1', 1501), ('::1', 1500)], 8030: []}


@pytest.mark.skipif(not os.path.exists(TABLES[0][0]), reason='needs Linux /proc/net/tcp')
def test_listeners_sees_a_real_socket_of_ours():
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert ('127.0.0.1', os.getuid()) in listeners([port])[port]
    finally:
        server.close()
    assert ('127.0.0.1', os.getuid()) not in listeners([port])[port]


@pytest.mark.parametrize("content, expected", [("1024\n", 1024), ("80\n", 80), ("0\n", 0), ("x\n", 1024)])
def test_unprivileged_port_start_reads_the_sysctl(tmp_path, content, expected):
    path = tmp_path / "ip_unprivileged_port_start"
    path.write_text(content)
    assert unprivileged_port_start(str(path)) == expected


def test_unprivileged_port_start_is_1024_without_the_setting(tmp_path):
    assert unprivileged_port_start(str(tmp_path / "missing")) == 1024


def test_unprivileged_port_start_of_this_kernel():
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as handle:
        assert unprivileged_port_start() == int(handle.read())
