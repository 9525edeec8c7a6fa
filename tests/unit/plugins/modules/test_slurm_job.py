# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import basic

from ansible_collections.hpc.vllm.plugins.modules import slurm_job, slurm_job_info
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'slurm')
NAME = 'hpcv-slurm-vllm'


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


# scontrol -o show partition of the lab's cluster (Slurm 22.05), and one without any limit
PARTITION = fixture('partition.txt')
UNLIMITED_PARTITION = PARTITION.replace('DefaultTime=01:00:00', 'DefaultTime=NONE').replace(
    'MaxTime=04:00:00', 'MaxTime=UNLIMITED')


class FakeSlurm(object):
    """sbatch, scontrol, squeue and scancel of one user, as far as the module asks them: jobs are records
    made from the lab's real ``scontrol -o show job`` output, with the state and comment changed."""

    def __init__(self, tmp_path, partition=PARTITION, refuse=None):
        self.jobs = {}
        self.next_id = 41
        self.calls = []
        self.partition = partition
        self.refuse = refuse  # sbatch's stderr when it refuses every job
        self.bins = {}
        for name in ('sbatch', 'scontrol', 'squeue', 'scancel'):
            self.bins[name] = str(tmp_path / name)

    def add(self, state, comment='hpc-vllm:' + NAME, reason='None', name='hpc-vllm-' + NAME):
        job_id = str(self.next_id)
        self.next_id += 1
        record = fixture('job_running.txt').strip().replace('JobId=9 ', 'JobId=%s ' % job_id)
        record = record.replace('JobState=RUNNING Reason=None', 'JobState=%s Reason=%s' % (state, reason))
        record = record.replace('Comment=hpc-vllm:hpcv-slurm-vllm ', 'Comment=%s ' % comment)
        record = record.replace('JobName=hpc-vllm-hpcv-slurm-vllm', 'JobName=%s' % name)
        self.jobs[job_id] = record
        return job_id

    def state(self, job_id):
        return self.jobs[job_id].split('JobState=')[1].split(' ')[0]

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return self.bins.get(arg)

    def run_command(self, args, **kwargs):
        argv = [os.path.basename(args[0])] + list(args[1:])
        self.calls.append(argv)
        command = argv[0]
        if command == 'scontrol' and argv[1:4] == ['-o', 'show', 'partition']:
            return 0, self.partition, ''
        if command == 'scontrol' and argv[1:4] == ['-o', 'show', 'job']:
            if argv[4] not in self.jobs:
                return 1, '', 'slurm_load_jobs error: Invalid job id specified\n'
            return 0, self.jobs[argv[4]] + '\n', ''
        if command == 'squeue' and '--start' in argv:
            return 0, '2026-12-02T15:00:00\n', ''
        if command == 'squeue':
            wanted = argv[argv.index('-n') + 1]
            return 0, ''.join('%s\n' % job_id for job_id, record in self.jobs.items()
                              if 'JobName=%s ' % wanted in record
                              and self.state(job_id) in ('PENDING', 'RUNNING')), ''
        if command == 'scancel':
            for job_id in argv[1:]:
                if job_id in self.jobs:
                    self.jobs[job_id] = self.jobs[job_id].replace('JobState=%s' % self.state(job_id), 'JobState=CANCELLED')
            return 0, '', ''
        if command == 'sbatch':
            if self.refuse:
                return 1, '', self.refuse
            if '--test-only' in argv:
                return 0, '', 'sbatch: Job 99 to start at 2026-12-02T13:51:29 using 1 processors on nodes x\n'
            job_id = self.add('PENDING')
            return 0, job_id + '\n', ''
        raise AssertionError('unexpected command %r' % argv)

    def run(self, monkeypatch, main, args, check_mode=False):
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', self.get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, 'run_command', self.run_command)
        return run_module(main, args, check_mode=check_mode)

    def sbatch_calls(self):
        return [call for call in self.calls if call[0] == 'sbatch']


def args(tmp_path, **extra):
    service = tmp_path / 'service'
    service.mkdir(exist_ok=True)
    (service / 'run.sh').write_text(u'#!/bin/sh\nexec vllm\n')
    result = dict(name=NAME, directory=str(tmp_path / 'job'), job_name='hpc-vllm-' + NAME, script=u'#!/bin/bash\nrun\n',
                  options=[{'name': 'partition', 'value': 'gpu', 'variable': 'slurm_partition'},
                           {'name': 'time', 'value': '02:00:00', 'variable': 'slurm_time'}],
                  digest_files=[str(service / 'run.sh')])
    result.update(extra)
    return result


def state_file(tmp_path):
    return json.loads((tmp_path / 'job' / 'job.json').read_text())


def test_submits_the_job_and_keeps_its_id_and_digest(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    assert not failed and result['changed'] and result['action'] == 'submitted'
    assert result['job_id'] == '41' and result['time_limit'] == '02:00:00'
    assert (result['state'], result['reason']) == ('PENDING', 'None')  # what Slurm said right after sbatch
    assert slurm.sbatch_calls() == [['sbatch', '--parsable', '--partition=gpu', '--time=02:00:00', '--comment=hpc-vllm:' + NAME,
                                     str(tmp_path / 'job' / 'job.sh')]]
    assert state_file(tmp_path)['job_id'] == '41'
    assert oct((tmp_path / 'job' / 'job.json').stat().st_mode & 0o777) == '0o600'
    assert (tmp_path / 'job' / 'job.sh').read_text() == u'#!/bin/bash\nrun\n'


def test_a_waiting_or_running_job_with_the_same_settings_is_kept(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    for state in ('PENDING', 'RUNNING'):
        slurm.jobs['41'] = slurm.jobs['41'].replace('JobState=%s' % slurm.state('41'), 'JobState=' + state)
        failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
        assert not failed and not result['changed'] and result['action'] == 'kept' and result['job_id'] == '41'
    assert len(slurm.sbatch_calls()) == 1


@pytest.mark.parametrize('change', ['script', 'option', 'service file'])
def test_a_changed_setting_replaces_the_job_after_sbatch_test_only(tmp_path, monkeypatch, change):
    slurm = FakeSlurm(tmp_path)
    slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    changed = args(tmp_path)
    if change == 'script':
        changed['script'] += u'more\n'
    elif change == 'option':
        changed['options'][1]['value'] = '03:00:00'
    else:
        (tmp_path / 'service' / 'run.sh').write_text(u'#!/bin/sh\nexec vllm --other\n')
    failed, result = slurm.run(monkeypatch, slurm_job.main, changed)
    assert not failed and result['changed'] and result['action'] == 'replaced'
    assert result['previous']['job_id'] == '41' and result['job_id'] == '42'
    assert slurm.state('41') == 'CANCELLED'
    test_only = [call for call in slurm.calls if '--test-only' in call]
    assert len(test_only) == 1 and slurm.calls.index(test_only[0]) < slurm.calls.index(['scancel', '41'])


def test_what_sbatch_refuses_keeps_the_running_job_and_names_the_variable(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    slurm.refuse = ('sbatch: error: invalid partition specified: nosuch\n'
                    'sbatch: error: Batch job submission failed: Invalid partition name specified\n')
    bad = args(tmp_path)
    bad['options'][0]['value'] = 'nosuch'
    failed, result = slurm.run(monkeypatch, slurm_job.main, bad)
    assert failed
    assert result['msg'] == ('sbatch refuses the job of hpcv-slurm-vllm (rc 1): sbatch: error: invalid partition specified: '
                             'nosuch; check slurm_partition (--partition=nosuch)')
    assert slurm.state('41') == 'PENDING' and state_file(tmp_path)['job_id'] == '41'


def test_node_configuration_refusal_names_every_resource_asked_for(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path, refuse='sbatch: error: Batch job submission failed: Requested node configuration is '
                                       'not available\n')
    failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path, options=[
        {'name': 'gres', 'value': 'gpu:9', 'variable': 'slurm_gpus'},
        {'name': 'mem', 'value': '900G', 'variable': 'slurm_mem'},
        {'name': 'time', 'value': '1:00:00', 'variable': 'slurm_time'}]))
    assert failed and result['msg'].endswith('check slurm_gpus (--gres=gpu:9), slurm_mem (--mem=900G)')


def test_an_ended_job_is_submitted_again_and_said_how_it_ended(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    slurm.jobs['41'] = slurm.jobs['41'].replace('JobState=PENDING Reason=None', 'JobState=TIMEOUT Reason=TimeLimit')
    failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    assert not failed and result['action'] == 'resubmitted' and result['job_id'] == '42'
    assert (result['previous']['state'], result['previous']['reason']) == ('TIMEOUT', 'TimeLimit')


def test_a_job_slurm_forgot_is_submitted_again(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    del slurm.jobs['41']
    failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    assert not failed and result['action'] == 'resubmitted' and result['previous']['state'] == 'UNKNOWN'


def test_a_job_of_the_same_id_but_not_ours_is_not_kept(tmp_path, monkeypatch):
    """A slurmctld that lost its state counts job ids from 1 again: job.json's id may be someone else's."""
    slurm = FakeSlurm(tmp_path)
    slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    slurm.jobs['41'] = slurm.jobs['41'].replace('Comment=hpc-vllm:' + NAME + ' ', 'Comment=(null) ')
    failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    assert not failed and result['action'] == 'resubmitted' and slurm.state('41') == 'PENDING'
    assert ['scancel', '41'] not in slurm.calls


def test_check_mode_submits_and_cancels_nothing(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path), check_mode=True)
    assert not failed and result['changed'] and result['action'] == 'submitted'
    assert slurm.sbatch_calls() == [] and not (tmp_path / 'job').exists()


def test_without_a_time_the_partitions_default_time_is_asked_for(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path, options=[]))
    assert not failed and result['time_limit'] == '01:00:00'
    assert slurm.sbatch_calls()[0][2] == '--time=01:00:00'


def test_a_partition_without_limits_gets_a_warning(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path, partition=UNLIMITED_PARTITION)
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path, options=[]))
    assert not failed and result['time_limit'] == 'UNLIMITED'
    assert len(warnings) == 1 and 'has no time limit' in warnings[0] and 'set slurm_time' in warnings[0]


def test_a_time_above_the_partitions_max_time_fails_before_sbatch(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    failed, result = slurm.run(monkeypatch, slurm_job.main, args(tmp_path, options=[
        {'name': 'time', 'value': '9-00:00:00', 'variable': 'slurm_time'}]))
    assert failed and 'slurm_time=9-00:00:00 is above the MaxTime 04:00:00 of partition gpu' in result['msg']
    assert slurm.sbatch_calls() == []


def test_absent_cancels_the_job_and_others_of_its_name(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    stray = slurm.add('RUNNING', comment='(null)')
    absent = dict(name=NAME, directory=str(tmp_path / 'job'), job_name='hpc-vllm-' + NAME, state='absent')
    failed, result = slurm.run(monkeypatch, slurm_job.main, absent)
    assert not failed and result['changed'] and sorted(result['cancelled']) == ['41', stray]
    assert not (tmp_path / 'job' / 'job.json').exists()
    failed, result = slurm.run(monkeypatch, slurm_job.main, absent)
    assert not failed and not result['changed'] and result['action'] == 'absent'


def test_info_says_state_reason_node_and_time_left(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    failed, result = slurm.run(monkeypatch, slurm_job_info.main, dict(name=NAME, directory=str(tmp_path / 'job')))
    job = result['job']
    assert not failed and (job['state'], job['reason'], job['expected_start']) == ('PENDING', 'None', '2026-12-02T15:00:00')
    slurm.jobs['41'] = slurm.jobs['41'].replace('JobState=PENDING', 'JobState=RUNNING')
    failed, result = slurm.run(monkeypatch, slurm_job_info.main, dict(name=NAME, directory=str(tmp_path / 'job')))
    job = result['job']
    # the fixture's job has run 11 s of its 2 hours
    assert (job['state'], job['node'], job['time_left'], job['run_time']) == ('RUNNING', 'hpcv-slurm-c1', 7189, 11)


def test_info_without_a_job(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    failed, result = slurm.run(monkeypatch, slurm_job_info.main, dict(name=NAME, directory=str(tmp_path / 'job')))
    assert not failed and result['job']['state'] == 'NONE' and slurm.calls == []


def test_info_reads_how_the_job_stopped_from_its_own_lines_of_the_log(tmp_path, monkeypatch):
    slurm = FakeSlurm(tmp_path)
    slurm.run(monkeypatch, slurm_job.main, args(tmp_path))
    log = tmp_path / 'log'
    log.write_text(u'\n'.join([
        '2026-12-02T10:00:00+0000 hpc-vllm job: job 40 started on hpcv-slurm-c2',
        '2026-12-02T11:58:00+0000 hpc-vllm job: stopping: the time limit is 120 s away (USR1)',
        '2026-12-02T12:00:00+0000 hpc-vllm job: job 41 started on hpcv-slurm-c1',
        '2026-12-02T12:05:00+0000 hpc-vllm job: hpc-vllm-server ended (exit 137) after 300 s',
    ]) + u'\n')
    slurm.jobs['41'] = slurm.jobs['41'].replace('JobState=PENDING Reason=None', 'JobState=NODE_FAIL Reason=NodeDown')
    slurm.jobs['41'] = slurm.jobs['41'].replace('StdOut=/home/researcher/.hpc-vllm/slurm/hpcv-slurm-vllm/job.log',
                                                'StdOut=%s' % log)
    failed, result = slurm.run(monkeypatch, slurm_job_info.main, dict(name=NAME, directory=str(tmp_path / 'job'),
                                                                      log_lines=5))
    job = result['job']
    # job 40's clean stop is not job 41's: 41 was lost with its node
    assert job['state'] == 'NODE_FAIL' and job['stopped'] == '' and job['time_left'] is None
    assert job['log_tail'].splitlines()[0].endswith('job 41 started on hpcv-slurm-c1')
