# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Read who listens on which TCP port from /proc/net/tcp and /proc/net/tcp6.

The kernel records the owning uid of every socket there, readable by any user: on a shared login node
another user's listener shows with that user's id even though their processes stay hidden from us.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import os
import pwd
import socket
import struct

LISTEN = '0A'
TABLES = (('/proc/net/tcp', socket.AF_INET), ('/proc/net/tcp6', socket.AF_INET6))
UNPRIVILEGED_PORT_START = '/proc/sys/net/ipv4/ip_unprivileged_port_start'


def decode_address(hex_address, family):
    """Turn the kernel's hex notation (32-bit words in host byte order, little-endian here) into text."""
    raw = binascii.unhexlify(hex_address)
    words = len(raw) // 4
    host_order = struct.pack('<%dI' % words, *struct.unpack('>%dI' % words, raw))
    return socket.inet_ntop(family, host_order)


def parse_table(text, family, ports):
    """Listening sockets of one table whose port is in ``ports``: (port, address, uid) tuples."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8 or fields[3] != LISTEN:
            continue
        hex_address, dummy, hex_port = fields[1].rpartition(':')
        port = int(hex_port, 16)
        if port in ports:
            found.append((port, decode_address(hex_address, family), int(fields[7])))
    return found


def listeners(ports, tables=TABLES):
    """Map each port to its listeners, ``[(address, uid)]``; a table that cannot be read is skipped."""
    result = dict((port, []) for port in ports)
    for path, family in tables:
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError):
            continue
        for port, address, uid in parse_table(text, family, set(ports)):
            result[port].append((address, uid))
    return result


def unprivileged_port_start(path=UNPRIVILEGED_PORT_START):
    """The lowest port a user without CAP_NET_BIND_SERVICE may listen on (net.ipv4.ip_unprivileged_port_start).

    Kernels before 4.11 have no such setting and keep the historic 1024; so does an unreadable file.
    """
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return 1024


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def report(ports, tables=TABLES):
    """What the modules tcp_listeners and login_node_facts return: ``uid`` (ours), ``unprivileged_port_start``
    and ``ports``, each asked port (a string key) with its listeners' address, uid, user and whether it is ours."""
    uid = os.getuid()
    return dict(uid=uid, unprivileged_port_start=unprivileged_port_start(), ports=dict(
        (str(port), [dict(address=address, uid=owner, user=_user(owner), ours=owner == uid)
                     for address, owner in entries])
        for port, entries in listeners(ports, tables).items()))
