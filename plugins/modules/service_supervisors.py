#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: service_supervisors
short_description: Tell which supervisors can keep a service alive on this node, and who we are here
version_added: 0.2.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - HPC nodes rarely give root and often do not keep user managers alive, so the supervisor of a long-running
    service is probed rather than assumed. V(systemd) works for root on a systemd host; V(systemd_user) when
    the user's manager runs and the user lingers (so that it outlives the login); V(standalone) (the
    collection's C(supervise.sh)) everywhere.
  - Also sets the user facts as the C(user) subset of C(ansible.builtin.setup) sets them (C(user_id),
    C(user_uid), C(user_dir) and the rest), so that the roles need no separate fact gathering.
  - Internal to the collection; the C(detect) entry point of C(hpc.vllm._service) calls it once per host.
extends_documentation_fragment:
  - hpc.vllm.attributes
  - hpc.vllm.attributes.read_only
options: {}
notes:
  - The user manager is asked with C(systemctl --user is-system-running), reached through
    C(XDG_RUNTIME_DIR=/run/user/UID); V(running) and V(degraded) count as running.
seealso:
  - module: hpc.vllm.supervised_service
"""

EXAMPLES = r"""
- name: See which supervisors work here
  hpc.vllm.service_supervisors:
  register: __supervisors

- name: Show them
  ansible.builtin.debug:
    msg: "{{ __supervisors.supervisors | dict2items | selectattr('value') | map(attribute='key') | join(', ') }}"
"""

RETURN = r"""
supervisors:
  description: For each supervisor, whether it can work on this node, in the order C(auto) prefers them.
  returned: always
  type: dict
  sample: {systemd: false, systemd_user: true, standalone: true}
user_manager:
  description: What C(systemctl --user is-system-running) printed, or V(null) when it was not asked.
  returned: always
  type: str
  sample: running
ansible_facts:
  description: The user facts, named and shaped as the C(user) subset of C(ansible.builtin.setup) gives them.
  returned: always
  type: dict
  sample: {user_id: researcher, user_uid: 1000, user_gid: 1000, user_dir: /home/researcher, user_shell: /bin/bash}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._facts import user_facts


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    facts = user_facts()
    uid = facts['user_uid']
    systemd_host = os.path.isdir('/run/systemd/system')
    lingers = os.path.exists('/var/lib/systemd/linger/%s' % facts['user_id'])
    user_manager = None
    systemctl = module.get_bin_path('systemctl')
    if systemd_host and uid != 0 and lingers and systemctl:
        # No module reports the state of a user manager as a whole.
        rc, out, err = module.run_command([systemctl, '--user', 'is-system-running'],
                                          environ_update={'XDG_RUNTIME_DIR': '/run/user/%d' % uid})
        user_manager = out.strip() or err.strip()
    module.exit_json(
        changed=False,
        # a dict keeps its order (Python 3.7+, and Ansible's JSON): auto takes the first usable one
        supervisors=dict([
            ('systemd', systemd_host and uid == 0),
            ('systemd_user', lingers and user_manager in ('running', 'degraded')),
            ('standalone', True),
        ]),
        user_manager=user_manager,
        ansible_facts=facts,
    )


if __name__ == '__main__':
    main()
