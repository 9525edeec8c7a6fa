#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: tcp_listeners
short_description: Tell who listens on given TCP ports of a Linux host, without root
version_added: 0.1.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Reads C(/proc/net/tcp) and C(/proc/net/tcp6), where the kernel records the owning user of every socket,
    and reports the listeners on O(ports) with their address and user, and whether they belong to the user
    the module runs as.
  - Built for shared login nodes, where another user's processes are hidden but their listener on a
    loopback port would still take the port a tunnel needs.
  - It also reports the lowest port the user may listen on (RV(unprivileged_port_start)), so that a
    port below it can be refused before a tunnel is started there.
  - The module only reads; it never reports RV(ignore:changed).
extends_documentation_fragment:
  - hpc.vllm.attributes
  - hpc.vllm.attributes.read_only
options:
  ports:
    description: The TCP ports to look at.
    type: list
    elements: int
    required: true
notes:
  - Linux only (C(/proc/net)).
seealso:
  - module: hpc.vllm.port_probe
"""

EXAMPLES = r"""
- name: See who holds the tunnel port on the login node
  hpc.vllm.tcp_listeners:
    ports: [8020]
  register: __listeners

- name: Fail when another user holds it
  ansible.builtin.assert:
    that: __listeners.ports['8020'] | rejectattr('ours') | list | length == 0
"""

RETURN = r"""
uid:
  description: The user id the module ran as.
  returned: always
  type: int
  sample: 1500
unprivileged_port_start:
  description:
    - The lowest port a user without root (or C(CAP_NET_BIND_SERVICE)) may listen on, from
      C(/proc/sys/net/ipv4/ip_unprivileged_port_start); V(1024) where the kernel has no such setting.
  returned: always
  type: int
  sample: 1024
ports:
  description: For each port asked (as a string key), its listening sockets; V([]) when nobody listens.
  returned: always
  type: dict
  sample:
    "8020":
      - address: 127.0.0.1
        uid: 1501
        user: mallory
        ours: false
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._tcp_listeners import report


def main():
    module = AnsibleModule(
        argument_spec=dict(ports=dict(type='list', elements='int', required=True)),
        supports_check_mode=True,
    )
    bad = [port for port in module.params['ports'] if not 1 <= port <= 65535]
    if bad:
        module.fail_json(msg='ports must be integers from 1 to 65535, got %s' % ', '.join(str(port) for port in bad))
    if not os.path.exists('/proc/net/tcp'):
        module.fail_json(msg='/proc/net/tcp is missing: tcp_listeners works on Linux only')
    module.exit_json(changed=False, **report(module.params['ports']))


if __name__ == '__main__':
    main()
