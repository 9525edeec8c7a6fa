# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
action: slurm_job_wait
short_description: Wait, visibly, until a deployment's Slurm job runs and vLLM answers through the login node
version_added: 0.3.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Runs on the controller and asks the login node, every O(interval) seconds, where the job stands (module
    M(hpc.vllm.slurm_job_info)); once it runs, whether vLLM answers at O(url) there (module M(hpc.vllm.vllm_health)),
    which is the login node's end of the job's reverse tunnel.
  - Prints a line while the job waits - Slurm's reason and its expected start - whenever they change and at least
    every O(report_interval) seconds; then one line when the job runs on its node, and one when vLLM answers.
    A job can wait for hours on a busy cluster; without O(pending_timeout) this waits as long as it does.
  - Fails when the job ends (RV(job) says how, with its log's tail), when it waited longer than O(pending_timeout),
    or when vLLM did not answer O(ready_timeout) seconds after the job started.
options:
  name:
    description: The deployment's name (its jobs' comment is C(hpc-vllm:NAME)).
    type: str
    required: true
  directory:
    description: The deployment's job directory (its C(job.json) names the job).
    type: path
    required: true
  url:
    description: vLLM's URL on the login node, the listener of the job's reverse tunnel.
    type: str
    required: true
  model:
    description: The model vLLM must list.
    type: str
    required: true
  api_key:
    description: vLLM's API key; never shown.
    type: str
  pending_timeout:
    description: Seconds the job may wait in the queue; V(0) waits as long as it takes.
    type: int
    default: 0
  ready_timeout:
    description: Seconds from the job's start until vLLM must answer.
    type: int
    default: 1800
  interval:
    description: Seconds between two questions to the login node.
    type: int
    default: 5
  report_interval:
    description: At least every this many seconds a waiting job gets a line, even when nothing changed.
    type: int
    default: 30
  log_lines:
    description: Lines of the job's log to return when it ended.
    type: int
    default: 40
attributes:
  check_mode:
    support: none
"""

RETURN = r"""
job:
  description: The job as M(hpc.vllm.slurm_job_info) said it last.
  returned: always
  type: dict
ready:
  description: Whether vLLM answered.
  returned: always
  type: bool
pending_timed_out:
  description: Whether the job was still waiting after O(pending_timeout) seconds.
  returned: always
  type: bool
waited:
  description: Seconds waited in all, and in the queue.
  returned: always
  type: dict
"""

import time

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.hpc.vllm.plugins.module_utils._slurm import format_seconds, is_running, is_waiting

display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('name', 'directory', 'url', 'model', 'api_key', 'pending_timeout', 'ready_timeout', 'interval',
                             'report_interval', 'log_lines'))

    def _module(self, name, args, task_vars):
        result = self._execute_module(module_name=name, module_args=args, task_vars=task_vars)
        result.pop('invocation', None)  # the api_key is masked there, but nothing of it needs to travel
        return result

    def _say(self, text):
        display.display('[%s] %s' % (self._host_name, text))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        self._host_name = task_vars.get('inventory_hostname', '?')
        args = self._task.args
        if self._play_context.check_mode:
            result.update(skipped=True, msg='check mode: the job is not waited for')
            return result
        directory = args['directory']
        interval = max(1, int(args.get('interval', 5)))
        report_interval = max(interval, int(args.get('report_interval', 30)))
        pending_timeout = int(args.get('pending_timeout', 0))
        ready_timeout = int(args.get('ready_timeout', 1800))
        health_args = dict(url=args['url'], model=args['model'], timeout=interval, interval=1, request_timeout=5)
        if args.get('api_key'):
            health_args['api_key'] = args['api_key']

        start = time.time()
        queued = running_since = last_report = None
        last_seen = None
        job = {}
        while True:
            info = self._module('hpc.vllm.slurm_job_info', {'name': args['name'], 'directory': directory}, task_vars)
            if info.get('failed'):
                return info
            job = info['job']
            state = job.get('state', '')
            now = time.time()
            if is_waiting(state):
                queued = queued or now
                seen = (state, job.get('reason'), job.get('expected_start'))
                if seen != last_seen or now - last_report >= report_interval:
                    self._say('job %s %s (%s), expected start %s, %d s in the queue'
                              % (job['job_id'], state, job.get('reason') or 'None', job.get('expected_start') or 'N/A',
                                 now - queued))
                    last_seen, last_report = seen, now
                if pending_timeout and now - queued > pending_timeout:
                    result.update(failed=True, job=job, ready=False, pending_timed_out=True,
                                  waited=dict(total=round(now - start), queued=round(now - queued)),
                                  msg='job %s still %s (%s) after %d s in the queue (slurm_pending_timeout)'
                                      % (job['job_id'], state, job.get('reason'), pending_timeout))
                    return result
                time.sleep(interval)
                continue
            if is_running(state):
                if running_since is None:
                    running_since = now
                    self._say('job %s RUNNING on %s, %s left; waiting for vLLM through the login node at %s'
                              % (job['job_id'], job.get('node') or '?', format_seconds(job.get('time_left')) if job.get('time_left') is not None else 'no time limit', args['url']))
                health = self._module('hpc.vllm.vllm_health', health_args, task_vars)
                if not health.get('failed'):
                    now = time.time()
                    self._say('job %s ready: vLLM answers through the login node (%d s waited here; the job has run %s)'
                              % (job['job_id'], now - start, format_seconds(job.get('run_time', 0) + now - running_since)))
                    result.update(changed=False, job=job, ready=True, pending_timed_out=False,
                                  waited=dict(total=round(now - start),
                                              queued=round(running_since - queued) if queued else 0))
                    return result
                if time.time() - running_since > ready_timeout:
                    result.update(failed=True, job=job, ready=False, pending_timed_out=False,
                                  waited=dict(total=round(time.time() - start)),
                                  msg='job %s runs on %s, but vLLM did not answer at %s within %d s of its start: %s'
                                      % (job['job_id'], job.get('node'), args['url'], ready_timeout,
                                         to_text(health.get('reason') or health.get('msg'))))
                    return result
                continue
            # ended, forgotten by Slurm, or no job at all
            info = self._module('hpc.vllm.slurm_job_info',
                                {'name': args['name'], 'directory': directory, 'log_lines': int(args.get('log_lines', 40))}, task_vars)
            job = info.get('job', job)
            result.update(failed=True, job=job, ready=False, pending_timed_out=False,
                          waited=dict(total=round(time.time() - start)),
                          msg='job %s ended before vLLM answered: %s%s%s. Last lines of %s:\n%s'
                              % (job.get('job_id'), job.get('state'),
                                 (' (%s)' % job['reason']) if job.get('reason') not in (None, '', 'None') else '',
                                 (', exit code %s' % job['exit_code']) if job.get('exit_code') else '',
                                 job.get('log') or 'its log', job.get('log_tail') or '(empty)'))
            return result

