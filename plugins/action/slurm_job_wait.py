# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

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
                    self._say('job %s %s (%s), expected start %s, %d s in the queue%s'
                              % (job['job_id'], state, job.get('reason') or 'None', job.get('expected_start') or 'N/A',
                                 now - queued, ', requeued %d time(s) by Slurm' % job['restarts'] if job.get('restarts') else ''))
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
                    left = job.get('time_left')
                    self._say('job %s RUNNING on %s, %s left; waiting for vLLM through the login node at %s'
                              % (job['job_id'], job.get('node') or '?', 'no limit' if left is None else format_seconds(left),
                                 args['url']))
                health = self._module('hpc.vllm.vllm_health', health_args, task_vars)
                if not health.get('failed'):
                    now = time.time()
                    ran = format_seconds(job.get('run_time', 0) + now - running_since)
                    self._say('job %s ready: vLLM answers through the login node (%d s waited here; the job has run %s)'
                              % (job['job_id'], now - start, ran))
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
