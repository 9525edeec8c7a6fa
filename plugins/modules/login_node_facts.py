#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: login_node_facts
short_description: Read in one call what a login node must say before tunnel keys are authorized on it
version_added: 0.2.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Reads, without root, everything the role M(hpc.vllm.bastion) checks and publishes before it writes
    C(authorized_keys) - the node's host keys, its OpenSSH version, sshd's forwarding settings, the user's
    C(authorized_keys), and who listens on the tunnels' ports.
  - One module instead of ten small tasks, because every task is a round trip to the login node and a deploy
    that changes nothing is mostly such round trips.
  - It also sets the user and Python facts as the C(user) and C(python) subsets of M(ansible.builtin.setup) name
    them (RV(ansible_facts)), so that the role needs no fact gathering of its own.
  - sshd's settings are read from its config files as the user may read them, because C(sshd -T) needs root.
    C(Include) is followed where it stands, the first value of a keyword wins, and lines after a C(Match)
    are reported apart (RV(sshd.match)). Unreadable files are listed in RV(sshd.unreadable), not failed on.
  - The module only reads; it never reports RV(ignore:changed). Nothing missing on the node fails it.
extends_documentation_fragment:
  - hpc.vllm.attributes
  - hpc.vllm.attributes.read_only
options:
  ports:
    description: The TCP ports whose listeners to report in RV(listeners), the tunnels' ports on this node.
    type: list
    elements: int
    default: []
  sshd_config:
    description: sshd's main config file.
    type: path
    default: /etc/ssh/sshd_config
  host_keys:
    description: A glob of the host's public keys, pinned by the tunnels on the other nodes.
    type: str
    default: /etc/ssh/ssh_host_*_key.pub
  authorized_keys:
    description: The user's C(authorized_keys), relative to the home directory of the user the module runs as.
    type: str
    default: .ssh/authorized_keys
notes:
  - Linux only (C(/proc/net)).
seealso:
  - module: hpc.vllm.tcp_listeners
  - module: ansible.builtin.setup
"""

EXAMPLES = r"""
- name: Read the login node
  hpc.vllm.login_node_facts:
    ports: [8020, 8021]
  register: __bastion_node

- name: Fail when sshd forbids TCP forwarding
  ansible.builtin.assert:
    that: (__bastion_node.sshd.settings.allowtcpforwarding.value | default('yes')) != 'no'
"""

RETURN = r"""
ansible_facts:
  description: The user and Python facts, named and shaped as the C(user) and C(python) subsets of C(ansible.builtin.setup)
    give them.
  returned: always
  type: dict
  sample:
    user_id: researcher
    user_dir: /home/researcher
host_keys:
  description: The host's public keys as C(TYPE BASE64), without their comments, in the order of their file names.
  returned: always
  type: list
  elements: str
  sample: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH...]
openssh:
  description: The OpenSSH of the node, from C(ssh -V).
  returned: always
  type: dict
  contains:
    banner:
      description: What C(ssh -V) printed, or why it could not run.
      type: str
      sample: OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024
    version:
      description: The version as C(MAJOR.MINOR), or V('') when the banner names none.
      type: str
      sample: '9.2'
sshd:
  description: sshd's forwarding settings as its readable config files give them.
  returned: always
  type: dict
  contains:
    settings:
      description: >-
        For each of C(allowtcpforwarding), C(disableforwarding), C(allowstreamlocalforwarding) and
        C(authorizedkeysfile) that is set outside of Match blocks, its C(value) (lower case, but for
        C(authorizedkeysfile)) and C(where) (file:line).
      type: dict
      sample: {allowtcpforwarding: {value: 'yes', where: '/etc/ssh/sshd_config:12'}}
    match:
      description: The same keywords set inside Match blocks, each C(keyword), C(value), C(where).
      type: list
      elements: dict
    files_read:
      description: The files read.
      type: list
      elements: str
    unreadable:
      description: The files that could not be read, with the reason.
      type: list
      elements: str
authorized_keys:
  description: The user's C(authorized_keys).
  returned: always
  type: dict
  contains:
    path:
      description: Its absolute path.
      type: str
      sample: /home/researcher/.ssh/authorized_keys
    exists:
      description: Whether it exists.
      type: bool
    lines:
      description: Its lines, V([]) when it does not exist.
      type: list
      elements: str
    directory_exists:
      description: Whether its directory (C(~/.ssh)) exists.
      type: bool
listeners:
  description: Who listens on O(ports), as M(hpc.vllm.tcp_listeners) returns it (C(uid), C(unprivileged_port_start), C(ports)).
  returned: always
  type: dict
"""

import glob
import io
import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._command import TimedRunner
from ansible_collections.hpc.vllm.plugins.module_utils._facts import python_facts, user_facts
from ansible_collections.hpc.vllm.plugins.module_utils._sshd_config import forwarding_settings
from ansible_collections.hpc.vllm.plugins.module_utils._tcp_listeners import report

COMMAND_TIMEOUT = 30


def host_keys(module, pattern):
    keys = []
    for path in sorted(glob.glob(pattern)):
        try:
            with io.open(path, encoding='utf-8', errors='replace') as handle:
                fields = handle.read().split()
        except (IOError, OSError) as exc:
            module.warn('cannot read the host key %s: %s' % (path, exc))
            continue
        if len(fields) >= 2:
            keys.append(' '.join(fields[:2]))
    return keys


def openssh(module, run):
    ssh = module.get_bin_path('ssh')
    if not ssh:
        return dict(banner='ssh not found in PATH', version='')
    rc, out, err = run([ssh, '-V'])
    banner = (err + out).strip()
    match = re.search(r'OpenSSH_([0-9]+\.[0-9]+)', banner)
    return dict(banner=banner, version=match.group(1) if match else '')


def authorized_keys(path):
    try:
        with io.open(path, encoding='utf-8', errors='replace') as handle:
            lines = handle.read().splitlines()
        exists = True
    except (IOError, OSError):
        lines, exists = [], os.path.exists(path)
    return dict(path=path, exists=exists, lines=lines, directory_exists=os.path.isdir(os.path.dirname(path)))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ports=dict(type='list', elements='int', default=[]),
            sshd_config=dict(type='path', default='/etc/ssh/sshd_config'),
            host_keys=dict(type='str', default='/etc/ssh/ssh_host_*_key.pub', no_log=False),
            authorized_keys=dict(type='str', default='.ssh/authorized_keys', no_log=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    bad = [port for port in params['ports'] if not 1 <= port <= 65535]
    if bad:
        module.fail_json(msg='ports must be integers from 1 to 65535, got %s' % ', '.join(str(port) for port in bad))
    run = TimedRunner(module, COMMAND_TIMEOUT).run
    facts = user_facts()
    facts.update(python_facts())
    module.exit_json(
        changed=False,
        ansible_facts=facts,
        host_keys=host_keys(module, params['host_keys']),
        openssh=openssh(module, run),
        sshd=forwarding_settings(params['sshd_config']),
        authorized_keys=authorized_keys(os.path.join(facts['user_dir'], params['authorized_keys'])),
        listeners=report(params['ports']),
    )


if __name__ == '__main__':
    main()
