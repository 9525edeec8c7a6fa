#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: tunnel_key_pairs
short_description: Make the tunnels' SSH key pairs on the node that uses them, and return their public halves
version_added: 0.2.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - For each name of O(names), makes the directory O(directory)/NAME (mode C(0700)) and in it the key pair
    C(DIRECTION_ed25519) (ed25519, no passphrase, comment C(hpc-vllm:NAME:DIRECTION)) with C(ssh-keygen), unless
    the private key is there already; returns every public half in one call.
  - The private half never leaves the node. The public halves go to the login nodes, where M(hpc.vllm.bastion)
    authorizes each for one tunnel only.
  - A private key whose C(.pub) file is gone gets it back from C(ssh-keygen -y), so that a key the login nodes
    already authorize stays the same.
  - One task for all the keys of a host, where a directory, C(ssh-keygen), C(stat) and C(slurp) per key were four
    round trips to the node each.
extends_documentation_fragment:
  - hpc.vllm.attributes
attributes:
  check_mode:
    support: full
    details: Reports the key pairs it would make; their public halves are then V('').
  diff_mode:
    support: none
    details: A new key pair is reported by its path in RV(files_changed), never by its content.
options:
  directory:
    description: The directory of the deployments' key directories, such as C(~/.hpc-vllm/tunnels).
    type: path
    required: true
  direction:
    description: Which end of the tunnels this host is - V(reverse) on a compute node, V(forward) on the laptop.
    type: str
    required: true
    choices: [reverse, forward]
  names:
    description: The deployments, one key pair each.
    type: list
    elements: str
    required: true
requirements:
  - C(ssh-keygen) (OpenSSH) on the node.
seealso:
  - module: hpc.vllm.login_node_facts
"""

EXAMPLES = r"""
- name: Make the reverse tunnel's key pair
  hpc.vllm.tunnel_key_pairs:
    directory: ~/.hpc-vllm/tunnels
    direction: reverse
    names: [cluster_a]
  register: __keys

- name: Hand its public half to the login nodes
  ansible.builtin.set_fact:
    tunnel_public_key: "{{ __keys.public_keys['cluster_a'] }}"
"""

RETURN = r"""
public_keys:
  description: For each name, the public key line, or V('') in check mode for a key not made yet.
  returned: always
  type: dict
  sample: {cluster_a: ssh-ed25519 AAAAC3Nz... hpc-vllm:cluster_a:reverse}
files_changed:
  description: >-
    The key pairs made (by the private key's path) or whose public half was written again, and the directories made
    or given mode C(0700) back; what would change, in check mode.
  returned: always
  type: list
  elements: str
"""

import io
import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._files import make_directory

# a deployment's name, as the roles check it; it is a directory name here
NAME = re.compile(r'^[a-z0-9_-]+$')


def _read(path):
    with io.open(path, encoding='utf-8') as handle:
        return handle.read().strip()


def key_pair(module, ssh_keygen, path, comment):
    """``(changed, public key)`` of the key pair at ``path``, made when it is missing; its directory exists."""
    public = path + '.pub'
    if os.path.exists(path) and os.path.exists(public):
        return False, _read(public)
    if module.check_mode:
        return True, ''
    if os.path.exists(path):
        rc, out, err = module.run_command([ssh_keygen, '-y', '-f', path])
        if rc != 0:
            module.fail_json(msg='ssh-keygen -y could not read the private key %s: %s' % (path, (err or out).strip()))
        # ssh-keygen -y drops the comment
        with io.open(public, 'w', encoding='utf-8') as handle:
            handle.write(out.strip() + ' ' + comment + '\n')
    else:
        rc, out, err = module.run_command([ssh_keygen, '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path])
        if rc != 0:
            module.fail_json(msg='ssh-keygen could not make %s (rc=%d): %s' % (path, rc, (err or out).strip()))
    return True, _read(public)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directory=dict(type='path', required=True),
            direction=dict(type='str', required=True, choices=['reverse', 'forward']),
            names=dict(type='list', elements='str', required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    bad = [name for name in params['names'] if not NAME.match(name)]
    if bad:
        module.fail_json(msg='names must match [a-z0-9_-]+, got %s' % ', '.join(repr(name) for name in bad))
    ssh_keygen = module.get_bin_path('ssh-keygen', required=True)
    public_keys, files_changed = {}, []
    for name in params['names']:
        directory = os.path.join(params['directory'], name)
        path = os.path.join(directory, '%s_ed25519' % params['direction'])
        # as ansible.builtin.file with state=directory: made, or given its mode back
        if make_directory(directory, 0o700, module.check_mode):
            files_changed.append(directory)
        changed, public_keys[name] = key_pair(module, ssh_keygen, path, 'hpc-vllm:%s:%s' % (name, params['direction']))
        if changed:
            files_changed.append(path)
    module.exit_json(changed=bool(files_changed), public_keys=public_keys, files_changed=files_changed)


if __name__ == '__main__':
    main()
