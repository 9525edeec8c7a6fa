#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: slurm_job
short_description: Keep one deployment's Slurm job - keep it, replace it, submit it again, or cancel it
version_added: 0.3.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Runs on a cluster's login node, as the user who owns the deployment; needs no root.
  - With O(state=present), writes the job script C(job.sh) into O(directory) and makes sure one job of it
    waits or runs. A job that waits or runs with the same settings (the script, the options and the contents
    of O(digest_files)) is kept, and nothing changes. A job whose settings changed is replaced - the new
    settings are first tried with C(sbatch --test-only), so that what Slurm refuses leaves the old job
    serving. A job that ended is submitted again, and RV(previous) says how it ended.
  - The id of the job and the digest of its settings are kept in C(job.json) in O(directory) (mode 0600);
    the job's comment carries only the deployment's name, since every user may read it.
  - With O(state=absent), cancels the deployment's job (and any other waiting or running job of the user
    with its name) and waits until Slurm no longer lists it as waiting or running.
  - When C(sbatch) refuses a job, the message is Slurm's own and names the variable behind the option it
    refused, as the caller gave it in O(options).
extends_documentation_fragment:
  - hpc.vllm.attributes
attributes:
  check_mode:
    support: full
    description: Reports whether it would keep, submit, replace or cancel; submits and cancels nothing.
  diff_mode:
    support: partial
    details: The job script.
options:
  name:
    description: The deployment's name, for messages and the job's comment (C(hpc-vllm:NAME)).
    type: str
    required: true
  directory:
    description:
      - The deployment's job directory, on a filesystem the compute nodes share; made with mode V(0700).
    type: path
    required: true
  state:
    description: Whether the deployment's job should wait or run (V(present)) or be gone (V(absent)).
    type: str
    choices: [present, absent]
    default: present
  script:
    description: The job script, run by C(sbatch); required with O(state=present).
    type: str
  options:
    description:
      - The options of C(sbatch), each C(--NAME=VALUE) (or C(--NAME) without O(options[].value)).
      - O(options[].variable) is the public variable the value comes from, named when Slurm refuses it.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The long option without its dashes (V(partition)).
        type: str
        required: true
      value:
        description: Its value; none for a flag.
        type: str
      variable:
        description: The variable to name in messages.
        type: str
  job_name:
    description: The job's name (C(--job-name)), by which O(state=absent) also finds jobs C(job.json) does not name.
    type: str
    required: true
  digest_files:
    description:
      - Files whose contents are part of the job's settings - the service files its script runs. A change of
        one replaces the job. Their contents never leave the login node (only their digest, in C(job.json)).
    type: list
    elements: path
    default: []
  log_lines:
    description: How many lines of an ended job's log RV(previous) holds.
    type: int
    default: 40
  cancel_timeout:
    description: Seconds to wait, after C(scancel), until a job has left the queue.
    type: int
    default: 120
notes:
  - Replacing a job cancels the old one before the new one is submitted, because both would need the
    deployment's port on the login node; the endpoint is down until the new job serves.
seealso:
  - module: hpc.vllm.slurm_job_info
"""

EXAMPLES = r"""
- name: Keep the deployment's job
  hpc.vllm.slurm_job:
    name: cluster-s
    directory: /home/jdoe/.hpc-vllm/slurm/cluster-s
    job_name: hpc-vllm-cluster-s
    script: "{{ lookup('ansible.builtin.template', 'job.sh.j2') }}"
    options:
      - {name: partition, value: gpu, variable: slurm_partition}
      - {name: time, value: '04:00:00', variable: slurm_time}
    digest_files:
      - /home/jdoe/.hpc-vllm/services/hpc-vllm-server/run.sh
      - /home/jdoe/.hpc-vllm/services/hpc-vllm-server/env
"""

RETURN = r"""
job_id:
  description: The job that serves the deployment now; V("") after O(state=absent).
  returned: always
  type: str
  sample: "4242"
action:
  description: What was done.
  returned: always
  type: str
  choices: [kept, submitted, replaced, resubmitted, cancelled, absent]
previous:
  description:
    - The job that was there before, when it was replaced or had ended, as M(hpc.vllm.slurm_job_info) says a job
      - C(state) as Slurm gives it (V(UNKNOWN) once Slurm forgot it), C(reason), C(exit_code), C(stopped) (the job
      script's note when it stopped cleanly, such as the time limit's signal) and, for a job that ended, C(log_tail).
  returned: when there was one
  type: dict
state:
  description: The job's state as Slurm said it once submitted or kept (V(PENDING) mostly, for a job just submitted).
  returned: with O(state=present), but in check mode
  type: str
  sample: PENDING
reason:
  description: Slurm's reason for that state.
  returned: with O(state=present), but in check mode
  type: str
  sample: None
time_limit:
  description:
    - The job's time limit as sbatch got it - the C(time) option, else the partition's DefaultTime or MaxTime, else
      V(UNLIMITED) (with a warning).
  returned: with O(state=present)
  type: str
  sample: "04:00:00"
cancelled:
  description: The jobs O(state=absent) cancelled.
  returned: with O(state=absent)
  type: list
  elements: str
"""

import hashlib
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._command import first_line
from ansible_collections.hpc.vllm.plugins.module_utils._files import FileChanges, remove_file
from ansible_collections.hpc.vllm.plugins.module_utils._slurm import (
    format_seconds, parse_records, partition_time_limit, refused_options, state_of, time_limit_seconds)
from ansible_collections.hpc.vllm.plugins.module_utils._slurm_client import (
    COMMENT, STATE_FILE, Slurm, describe, read_state, write_state)

SCRIPT = 'job.sh'


def option_argv(options):
    return ['--%s=%s' % (o['name'], o['value']) if o.get('value') is not None else '--%s' % o['name']
            for o in options]


def digest(script, options, files):
    """The settings of a job in one sha256: what a re-run compares to keep the job or replace it."""
    hashed = hashlib.sha256()
    hashed.update(json.dumps([script, option_argv(options)]).encode('utf-8'))
    for path in files:
        hashed.update(b'\0' + path.encode('utf-8') + b'\0')
        try:
            with open(path, 'rb') as handle:
                hashed.update(handle.read())
        except (IOError, OSError):
            hashed.update(b'(missing)')
    return hashed.hexdigest()


class Job(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.directory = self.params['directory']
        self.slurm = Slurm(module)
        self.state = read_state(self.directory)
        self.log_path = os.path.join(self.directory, 'job.log')

    def refused(self, verb, rc, out, err):
        message = first_line(err, out)
        about = refused_options(err + out)
        named = [o for o in self.params['options'] if o['name'] in about]
        hint = ('; check %s' % ', '.join('%s (--%s=%s)' % (o.get('variable') or '--' + o['name'], o['name'], o.get('value'))
                                         for o in named)
                if named else '; check the slurm_* variables of this deployment')
        self.module.fail_json(msg='sbatch %s the job of %s (rc %d): %s%s' % (verb, self.params['name'], rc, message, hint),
                              sbatch_stderr=err.strip())

    def sbatch(self, *extra):
        # the comment is the module's: slurm_job_info and a later run know the deployment's jobs by it
        argv = (['--parsable'] + list(extra) + option_argv(self.params['options'])
                + ['--comment=' + COMMENT % self.params['name'], os.path.join(self.directory, SCRIPT)])
        return self.slurm.run('sbatch', *argv)

    def resolve_time(self):
        """A job without --time gets the partition's DefaultTime, else its MaxTime; said here, so that the job's
        limit is known (and in its digest), and warned about when the partition has none. A --time above the
        partition's MaxTime fails: Slurm would take the job and keep it pending for ever (PartitionTimeLimit)."""
        options = self.params['options']
        named = [o['value'] for o in options if o['name'] == 'partition']
        rc, out, _err = self.slurm.run('scontrol', '-o', 'show', 'partition')
        records = parse_records(out) if rc == 0 else []
        found = [r for r in records if (r.get('PartitionName') == named[0] if named else r.get('Default') == 'YES')]
        if not found:
            return  # sbatch names an unknown partition in its own words
        name = found[0].get('PartitionName')
        given = [o for o in options if o['name'] == 'time']
        if given:
            try:
                limit = time_limit_seconds(found[0].get('MaxTime', 'UNLIMITED'))
            except ValueError:
                limit = None
            if limit is not None and time_limit_seconds(given[0]['value']) > limit:
                self.module.fail_json(msg='%s=%s is above the MaxTime %s of partition %s: Slurm would keep the job of %s '
                                          'pending for ever (PartitionTimeLimit). Allowed: up to %s.'
                                          % (given[0].get('variable') or 'time', given[0]['value'], found[0]['MaxTime'],
                                             name, self.params['name'], found[0]['MaxTime']))
            return
        seconds, field = partition_time_limit(found[0])
        if seconds is None:
            self.module.warn('The job of %s has no time limit: slurm_time is empty and partition %s has neither DefaultTime '
                             'nor MaxTime. An unlimited job may wait behind every maintenance reservation; set slurm_time.'
                             % (self.params['name'], name))
            return
        options.append({'name': 'time', 'value': format_seconds(seconds),
                        'variable': 'slurm_time (empty: %s of partition %s)' % (field, name)})

    def time_limit(self):
        return ([o['value'] for o in self.params['options'] if o['name'] == 'time'] or ['UNLIMITED'])[0]

    def present(self):
        params = self.params
        self.resolve_time()
        files = FileChanges(self.check, self.module._diff)
        files.directory(self.directory, 0o700)
        files.file(os.path.join(self.directory, SCRIPT), params['script'], 0o700)
        wanted = digest(params['script'], params['options'], params['digest_files'])
        job_id = self.state.get('job_id')
        record = self.slurm.job(job_id, COMMENT % params['name']) if job_id else None
        result = dict(changed=True, diff=files.diff)
        if job_id and self.slurm.alive(record):
            if self.state.get('digest') == wanted and not files.changed:
                return dict(changed=False, job_id=job_id, action='kept', time_limit=self.time_limit(),
                            state=state_of(record), reason=record.get('Reason', ''))
            result['previous'] = describe(self.slurm, job_id, record)
            action = 'replaced'
        elif job_id:
            result['previous'] = describe(self.slurm, job_id, record, params['log_lines'],
                                          self.state.get('log', self.log_path))
            action = 'resubmitted'
        else:
            action = 'submitted'
        if self.check:
            return dict(result, job_id=job_id or '', action=action, time_limit=self.time_limit())
        if action == 'replaced':
            # What Slurm refuses (a partition, an account) must not cost the job that serves now.
            rc, out, err = self.sbatch('--test-only')
            if rc != 0:
                self.refused('refuses', rc, out, err)
            self.slurm.cancel([job_id], params['cancel_timeout'])
        rc, out, err = self.sbatch()
        if rc != 0:
            self.refused('refused', rc, out, err)
        new_id = out.strip().split(';')[0]
        write_state(self.directory, {'job_id': new_id, 'digest': wanted, 'log': self.log_path})
        # what Slurm says of it at once (PENDING, mostly: the scheduler places it a moment later)
        record = self.slurm.job(new_id)
        return dict(result, job_id=new_id, action=action, time_limit=self.time_limit(),
                    state=state_of(record) if record else 'UNKNOWN', reason=record.get('Reason', '') if record else '')

    def absent(self):
        params = self.params
        ids = set(self.slurm.find(params['job_name']))
        job_id = self.state.get('job_id')
        if job_id and self.slurm.alive(self.slurm.job(job_id, COMMENT % params['name'])):
            ids.add(job_id)
        ids = sorted(ids, key=lambda value: int(value.split('_')[0]) if value.split('_')[0].isdigit() else 0)
        state_file = os.path.join(self.directory, STATE_FILE)
        if not self.check:
            self.slurm.cancel(ids, params['cancel_timeout'])
        changed = remove_file(state_file, self.check) or bool(ids)
        return dict(changed=changed, job_id='', cancelled=ids, action='cancelled' if ids else 'absent')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            directory=dict(type='path', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            script=dict(type='str'),
            options=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                value=dict(type='str'),
                variable=dict(type='str'),
            )),
            job_name=dict(type='str', required=True),
            digest_files=dict(type='list', elements='path', default=[]),
            log_lines=dict(type='int', default=40),
            cancel_timeout=dict(type='int', default=120),
        ),
        required_if=[('state', 'present', ('script', ))],
        supports_check_mode=True,
    )
    job = Job(module)
    module.exit_json(**(job.present() if module.params['state'] == 'present' else job.absent()))


if __name__ == '__main__':
    main()
