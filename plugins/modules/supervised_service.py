#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: supervised_service
short_description: Write a long-running service's files and keep it running, in one task
version_added: 0.2.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Writes the files of one service into its directory (the start script, the standalone supervisor, the
    environment file with its secrets, any file of the caller), the systemd unit when a systemd supervisor
    runs it, and then starts the service, or restarts it when one of these files changed or O(restart) asks.
  - One task does what would otherwise be one task per file and one per supervisor step, so that a re-run
    that changes nothing costs one task per service.
  - Internal to the collection; the role C(hpc.vllm._service) (entry point C(apply)) calls it with the files
    rendered from its templates.
extends_documentation_fragment:
  - hpc.vllm.attributes
attributes:
  check_mode:
    support: full
    description: Reports what it would write, start or restart; it only reads the service's state.
  diff_mode:
    support: partial
    details: Every file but the environment file, which holds secrets.
options:
  name:
    description: The service's name (the systemd unit is V(NAME.service)).
    type: str
    required: true
  directory:
    description:
      - The service's directory, made with mode V(0700); its missing parents get the default mode.
    type: path
    required: true
  supervisor:
    description:
      - What keeps the service alive, as the C(detect) entry point of C(hpc.vllm._service) chose it.
      - With V(systemd) or V(systemd_user), a standalone loop left from an earlier choice is stopped first.
      - V(job) only writes the files. A Slurm job of the role C(hpc.vllm.slurm_job) runs the service's
        C(run.sh), and a change of the files is a change of that job (the role replaces it).
    type: str
    required: true
    choices: [systemd, systemd_user, standalone, job]
  files:
    description: Files written into O(directory). C(supervise.sh) must be among them for every supervisor.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The file's name in O(directory), or an absolute path for a file the service reads elsewhere (its
            pinned host keys, say); a change to either restarts the service.
        type: str
        required: true
      content:
        description: What the file holds.
        type: str
        required: true
      mode:
        description: Its permission bits, in octal.
        type: str
        default: '0600'
  remove_files:
    description: Names of files in O(directory) that must not exist; removing one counts as a change.
    type: list
    elements: str
    default: []
  environment:
    description:
      - The service's environment, written as one V(NAME=value) a line, sorted, to O(env_file) (mode V(0600)).
      - Secrets go here, never into a file of O(files). Never shown, in diffs neither.
    type: dict
    default: {}
  environment_header:
    description: The first lines of the environment file (comments).
    type: str
    default: ''
  env_file:
    description: Where the environment file goes; V(env) in O(directory) by default.
    type: path
  unit:
    description: The systemd unit; required when O(supervisor) is V(systemd) or V(systemd_user).
    type: str
  unit_path:
    description: Where the unit goes; its directory is made (mode V(0755)) when missing.
    type: path
  restart:
    description: Restart even when no file changed (the caller changed something the service reads).
    type: bool
    default: false
notes:
  - The standalone supervisor is C(supervise.sh) in O(directory) (C(start), C(stop) and C(status)).
  - A user systemd instance is reached through C(XDG_RUNTIME_DIR=/run/user/UID).
seealso:
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Write and start the service
  hpc.vllm.supervised_service:
    name: hpc-vllm
    directory: ~/.hpc-vllm/services/hpc-vllm
    supervisor: standalone
    files:
      - name: supervise.sh
        content: "{{ lookup('ansible.builtin.file', 'supervise.sh', rstrip=false) }}"
        mode: '0700'
      - name: run.sh
        content: "{{ lookup('ansible.builtin.template', 'run.sh.j2') }}"
        mode: '0700'
    environment:
      VLLM_API_KEY: "{{ vllm_api_key }}"
"""

RETURN = r"""
files_changed:
  description: The paths written, chmod-ed or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/home/researcher/.hpc-vllm/services/hpc-vllm/run.sh]
action:
  description:
    - What happened to the running service; with O(supervisor=job), whether its files were V(written) or left
      V(unchanged).
  returned: always
  type: str
  choices: [started, restarted, running, written, unchanged]
  sample: restarted
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._files import FileChanges
from ansible_collections.hpc.vllm.plugins.module_utils._supervised_service import env_file_content, env_file_problems

RUNNING = ('active', 'activating', 'reloading')


class Service(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.directory = self.params['directory']
        self.files = FileChanges(module.check_mode, module._diff)
        self.supervise = os.path.join(self.directory, 'supervise.sh')

    @property
    def changed_files(self):
        return self.files.changed

    def write_files(self):
        """Write every file of the service; returns whether the unit changed (systemd must reload it)."""
        params = self.params
        self.files.directory(self.directory, 0o700)
        for entry in params['files']:
            # an absolute name stays as it is: join() keeps the second path when it is absolute
            self.files.file(os.path.join(self.directory, entry['name']), entry['content'], int(entry['mode'], 8))
        for name in params['remove_files']:
            self.files.absent(os.path.join(self.directory, name))
        env_file = params['env_file'] or os.path.join(self.directory, 'env')
        self.files.file(env_file, env_file_content(params['environment'], params['environment_header']), 0o600,
                        secret=True)
        if params['supervisor'] in ('standalone', 'job'):
            return False
        unit_dir = os.path.dirname(params['unit_path'])
        if not os.path.isdir(unit_dir):
            # a user's first unit: ~/.config/systemd/user is made here (an existing one keeps its mode)
            self.files.directory(unit_dir, 0o755)
        return self.files.file(params['unit_path'], params['unit'], 0o644)

    # supervisors

    def _supervise(self, action):
        """Run supervise.sh ACTION DIRECTORY; returns its first word of output, or the exit code for status."""
        rc, out, err = self.module.run_command([self.supervise, action, self.directory])
        if action == 'status':
            return rc
        if rc != 0:
            message = '%s %s %s failed (rc %d): %s' % (self.supervise, action, self.directory, rc, (err or out).strip())
            self.module.fail_json(msg=message, files_changed=self.changed_files)
        return out.strip()

    def _loop_running(self):
        return os.path.exists(self.supervise) and self._supervise('status') == 0

    def _systemctl(self, *args):
        command = [self.module.get_bin_path('systemctl', required=True)]
        environ = None
        if self.params['supervisor'] == 'systemd_user':
            command.append('--user')
            environ = dict(XDG_RUNTIME_DIR='/run/user/%d' % os.getuid())
        rc, out, err = self.module.run_command(command + list(args), environ_update=environ)
        return rc, out.strip(), err.strip()

    def _systemctl_or_fail(self, *args):
        rc, out, err = self._systemctl(*args)
        if rc != 0:
            self.module.fail_json(msg='systemctl %s failed (rc %d): %s' % (' '.join(args), rc, err or out),
                                  files_changed=self.changed_files)

    def run_systemd(self, restart, unit_changed):
        unit = '%s.service' % self.params['name']
        changed = False
        if self._loop_running():
            # left from an earlier choice of supervisor: two copies would fight for the port
            changed = True
            if not self.check:
                self._supervise('stop')
        if unit_changed and not self.check:
            self._systemctl_or_fail('daemon-reload')
        if self._systemctl('is-enabled', unit)[1] != 'enabled':
            changed = True
            if not self.check:
                self._systemctl_or_fail('enable', unit)
        if self._systemctl('is-active', unit)[1] not in RUNNING:
            if not self.check:
                self._systemctl_or_fail('start', unit)
            return True, 'started'
        if restart:
            if not self.check:
                self._systemctl_or_fail('restart', unit)
            return True, 'restarted'
        return changed, 'running'

    def run_standalone(self, restart):
        if self.check:
            if not self._loop_running():
                return True, 'started'
            return (True, 'restarted') if restart else (False, 'running')
        stopped = restart and self._supervise('stop') == 'stopped'
        started = self._supervise('start') == 'started'
        if stopped:
            return True, 'restarted'
        return started, 'started' if started else 'running'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            directory=dict(type='path', required=True),
            supervisor=dict(type='str', required=True, choices=['systemd', 'systemd_user', 'standalone', 'job']),
            files=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                content=dict(type='str', required=True),
                mode=dict(type='str', default='0600'),
            )),
            remove_files=dict(type='list', elements='str', default=[]),
            environment=dict(type='dict', default={}, no_log=True),
            environment_header=dict(type='str', default=''),
            env_file=dict(type='path'),
            unit=dict(type='str'),
            unit_path=dict(type='path'),
            restart=dict(type='bool', default=False),
        ),
        required_if=[
            ('supervisor', 'systemd', ('unit', 'unit_path')),
            ('supervisor', 'systemd_user', ('unit', 'unit_path')),
        ],
        supports_check_mode=True,
    )
    params = module.params
    names = [entry['name'] for entry in params['files']] + params['remove_files']
    relative = [entry['name'] for entry in params['files'] if not os.path.isabs(entry['name'])]
    bad = [name for name in params['remove_files'] + relative if not name or '/' in name or name in ('.', '..')]
    if bad:
        module.fail_json(msg='files take plain file names or absolute paths, remove_files plain file names; '
                             'got %s' % ', '.join(repr(name) for name in bad))
    if 'supervise.sh' not in names:
        module.fail_json(msg='files must hold supervise.sh: every supervisor needs it to stop a leftover loop')
    problems = env_file_problems(params['environment'])
    if problems['bad_names'] or problems['bad_values']:
        module.fail_json(msg='The environment of %s has names that are no variable names (%s) or values with a line '
                             'break or a NUL byte (%s; values not shown): names must match [A-Za-z_][A-Za-z0-9_]* '
                             'and values be single lines.'
                             % (params['name'], ', '.join(problems['bad_names']) or 'none',
                                ', '.join(problems['bad_values']) or 'none'))
    service = Service(module)
    try:
        unit_changed = service.write_files()
    except (ValueError, IOError, OSError) as exc:
        module.fail_json(msg='Cannot write the files of %s: %s' % (params['name'], exc),
                         files_changed=service.changed_files)
    restart = params['restart'] or bool(service.changed_files)
    if params['supervisor'] == 'job':
        ran, action = False, 'written' if service.changed_files else 'unchanged'
    elif params['supervisor'] == 'standalone':
        ran, action = service.run_standalone(restart)
    else:
        ran, action = service.run_systemd(restart, unit_changed)
    result = dict(changed=bool(service.changed_files) or ran, files_changed=service.changed_files, action=action)
    if module._diff:
        result['diff'] = service.files.diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
