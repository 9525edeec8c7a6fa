# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The Slurm commands of the modules slurm_job and slurm_job_info, as a normal user runs them on a login
node: one job's record, its expected start, how it ended, its cancel, and the deployment's state file.

The state file (``job.json`` in the deployment's job directory, mode 0600) holds the id of the job that
serves the deployment and the digest of the settings it was submitted with. The digest stays there and out
of the job's comment, which every user of the cluster can read.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import time

from ansible_collections.hpc.vllm.plugins.module_utils._command import TimedRunner, first_line
from ansible_collections.hpc.vllm.plugins.module_utils._files import write_file
from ansible_collections.hpc.vllm.plugins.module_utils._slurm import (
    ENDED, has_ended, parse_record, state_of, time_limit_seconds)

STATE_FILE = 'job.json'
# the comment of every deployment's job: how a job id read from job.json is known to still be that job
COMMENT = 'hpc-vllm:%s'
# the lines the job script writes into its Slurm output, read back to say how a job ended
MARK = 'hpc-vllm job:'
STOP_MARK = MARK + ' stopping'


def read_state(directory):
    """The deployment's state file: ``{'job_id': ..., 'digest': ...}``, or {} when there is none."""
    try:
        with open(os.path.join(directory, STATE_FILE)) as handle:
            state = json.load(handle)
    except (IOError, OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(directory, state, check_mode=False):
    return write_file(os.path.join(directory, STATE_FILE), json.dumps(state, indent=2, sort_keys=True) + '\n',
                      0o600, check_mode)


def tail(path, lines):
    """The last ``lines`` lines of a file as text, '' when it cannot be read."""
    if not path or lines <= 0:
        return ''
    try:
        with open(path, 'rb') as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 65536))
            text = handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return ''
    return '\n'.join(text.splitlines()[-lines:])


def _seconds(value):
    try:
        return time_limit_seconds(value)
    except ValueError:
        return None


class Slurm(object):
    """Slurm's commands for one user on a login node, each under GNU timeout (a slurmctld that does not
    answer must not hang the run: Slurm's own clients retry for minutes)."""

    def __init__(self, module, timeout=60):
        self.module = module
        self.runner = TimedRunner(module, timeout)

    def _bin(self, name):
        path = self.module.get_bin_path(name)
        if not path:
            self.module.fail_json(msg='%s is not on the PATH of %s on this host: is it a Slurm login node? (for a '
                                      'Slurm from a module, load it in slurm_setup_login)' % (name, os.environ.get('USER', 'the user')))
        return path

    def run(self, name, *args):
        return self.runner.run([self._bin(name)] + list(args))

    def job(self, job_id, comment=None):
        """The job's ``scontrol -o show job`` record, or None when Slurm no longer knows it. With ``comment``,
        also None when the job with that id is another one (a slurmctld that lost its state counts from 1
        again): ours carry the deployment's comment."""
        rc, out, err = self.run('scontrol', '-o', 'show', 'job', str(job_id))
        if rc != 0:
            if 'Invalid job id' in err + out:
                return None
            self.module.fail_json(msg='scontrol show job %s failed (rc %d): %s' % (job_id, rc, first_line(err, out)))
        for line in out.splitlines():
            record = parse_record(line)
            if record.get('JobId') == str(job_id):
                return record if comment is None or record.get('Comment') == comment else None
        return None

    def expected_start(self, job_id):
        """squeue's expected start of a pending job (``N/A`` until the scheduler has planned it)."""
        rc, out, _err = self.run('squeue', '-h', '-j', str(job_id), '--start', '-o', '%S')
        return out.strip() if rc == 0 and out.strip() else 'N/A'

    def accounting(self, job_id):
        """``{'state', 'exit_code', 'reason'}`` from sacct where the site keeps accounting, else None."""
        if not self.module.get_bin_path('sacct'):
            return None
        rc, out, _err = self.run('sacct', '-n', '-X', '-P', '-j', str(job_id), '-o', 'State,ExitCode,Reason')
        fields = out.strip().splitlines()[0].split('|') if rc == 0 and out.strip() else []
        if len(fields) < 3:
            return None
        return {'state': fields[0].split(' ')[0], 'exit_code': fields[1], 'reason': fields[2]}

    def cancel(self, job_ids, wait=120):
        """scancel the jobs, then wait until Slurm lists none of them as waiting or running."""
        job_ids = [str(job_id) for job_id in job_ids]
        if not job_ids:
            return
        rc, out, err = self.run('scancel', *job_ids)
        if rc != 0 and 'Invalid job id' not in err + out:
            self.module.fail_json(msg='scancel %s failed (rc %d): %s' % (' '.join(job_ids), rc, first_line(err, out)))
        deadline = time.time() + wait
        while time.time() < deadline:
            alive = [job_id for job_id in job_ids if self.alive(self.job(job_id))]
            if not alive:
                return
            time.sleep(1)
        self.module.fail_json(msg='job(s) %s still in the queue %d s after scancel' % (', '.join(alive), wait))

    @staticmethod
    def alive(record):
        return record is not None and not has_ended(state_of(record))

    def find(self, job_name):
        """Ids of this user's jobs named ``job_name`` that are waiting or running (squeue)."""
        rc, out, err = self.run('squeue', '-h', '--me', '-n', job_name, '-o', '%i')
        if rc != 0:
            self.module.fail_json(msg='squeue failed (rc %d): %s' % (rc, first_line(err, out)))
        return [line.strip() for line in out.splitlines() if line.strip()]


def describe(slurm, job_id, record, log_lines=0, log_path=''):
    """What status and deploy say of one job: id, state, reason, node, time limit and left, its log's path
    and tail. ``record`` is its scontrol record, or None once Slurm forgot it (MinJobAge after its end);
    ``log_path`` is where its output went, for that case."""
    info = {'job_id': str(job_id), 'known': record is not None}
    if record is None:
        accounted = slurm.accounting(job_id) or {}
        info.update(state=accounted.get('state', 'UNKNOWN'), reason=accounted.get('reason', ''),
                    exit_code=accounted.get('exit_code', ''), node='', time_limit='', time_left=None,
                    expected_start='', log=log_path)
        return _with_log(info, log_lines)
    state = state_of(record)
    limit = _seconds(record.get('TimeLimit', ''))
    run_time = _seconds(record.get('RunTime', '')) or 0
    info.update(
        state=state,
        reason=record.get('Reason', 'None'),
        exit_code=record.get('ExitCode', ''),
        node=record.get('NodeList', '') if record.get('NodeList') not in ('(null)', None) else '',
        time_limit=record.get('TimeLimit', ''),
        time_left=None if limit is None or state in ENDED else max(0, limit - run_time),
        run_time=run_time,
        # how often Slurm requeued it (a node failure, a preemption): the same job id, started again
        restarts=int(record.get('Restarts', '0') or 0) if str(record.get('Restarts', '0')).isdigit() else 0,
        expected_start=slurm.expected_start(job_id) if state == 'PENDING' else '',
        log=record.get('StdOut', '') or log_path,
    )
    return _with_log(info, log_lines)


def _with_log(info, log_lines):
    lines = tail(info['log'], max(log_lines, 400)).splitlines()
    # the deployment's log holds every job it had: only the lines since this job's start are its own
    starts = [at for at, line in enumerate(lines) if '%s job %s started' % (MARK, info['job_id']) in line]
    own = lines[starts[-1]:] if starts else lines
    # the job script's own last word when it stopped cleanly (the time limit's signal, a scancel)
    stops = [line.split(STOP_MARK, 1)[1].strip(' :') for line in own if STOP_MARK in line]
    info['stopped'] = stops[-1] if stops else ''
    info['log_tail'] = '\n'.join(own[-log_lines:]) if log_lines > 0 else ''
    return info
