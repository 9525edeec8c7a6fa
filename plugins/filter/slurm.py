# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Slurm deployments' checks that need no cluster, run on the controller before any host changes
(role slurm_job, entry point validate), and their extra sbatch options in the form the module slurm_job
takes. The notation itself (time limits, sbatch's options) is module_utils/_slurm.py's."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.hpc.vllm.plugins.module_utils._slurm import extra_option_problems, time_limit_seconds


def slurm_options(options, variable='slurm_extra_options'):
    """``["--exclusive", "--mail-type=END"]`` as ``[{name, value, variable}]`` (value None for a flag)."""
    result = []
    for index, option in enumerate(options or []):
        name, sep, value = str(option)[2:].partition('=')
        result.append({'name': name, 'value': value if sep else None, 'variable': '%s[%d]' % (variable, index)})
    return result


def slurm_job_problems(settings, vllm_device='gpu', tensor_parallel_size=1):
    """What is wrong with a Slurm deployment's settings (a dict of the slurm_* variables), as sentences
    that name the variable and what it takes."""
    problems = []
    time_limit = None
    value = str(settings.get('slurm_time') or '')
    if value:
        try:
            time_limit = time_limit_seconds(value)
        except ValueError as exc:
            problems.append('slurm_time: %s.' % exc)
    gpus = settings.get('slurm_gpus', 1)
    try:
        gpus = int(gpus)
    except (TypeError, ValueError):
        problems.append('slurm_gpus must be a whole number, got %r.' % (gpus, ))
        gpus = None
    if gpus is not None:
        if vllm_device == 'gpu' and gpus < 1:
            problems.append('slurm_gpus is %d, but vllm_device is gpu: ask for 1 or more GPUs (or set vllm_device: '
                            'cpu for the CPU build).' % gpus)
        elif gpus < 0:
            problems.append('slurm_gpus must be 0 or more, got %d.' % gpus)
        elif vllm_device == 'gpu' and gpus < int(tensor_parallel_size):
            problems.append('slurm_gpus is %d, fewer than vllm_tensor_parallel_size %s: ask for at least as many GPUs as '
                            'vLLM splits the model over.' % (gpus, tensor_parallel_size))
    signal = settings.get('slurm_stop_signal_seconds', 120)
    if not isinstance(signal, int) or not 0 < signal <= 65535:
        problems.append('slurm_stop_signal_seconds must be 1 to 65535 (sbatch --signal), got %r.' % (signal, ))
    elif time_limit is not None and signal >= time_limit:
        problems.append('slurm_stop_signal_seconds (%d) is not below slurm_time (%s = %d s): the job would be told to '
                        'stop before it starts serving.' % (signal, value, time_limit))
    for name in ('slurm_partition', 'slurm_account', 'slurm_qos', 'slurm_mem', 'slurm_constraint',
                 'slurm_reservation', 'slurm_gpu_type', 'slurm_job_name'):
        if re.search(r'[\s]', str(settings.get(name) or '')):
            problems.append('%s must hold no blank or line break, got %r.' % (name, settings.get(name)))
    if not str(settings.get('slurm_job_name') or ''):
        problems.append('slurm_job_name must not be empty: teardown finds the job by it.')
    problems.extend(extra_option_problems(settings.get('slurm_extra_options') or []))
    return problems


class FilterModule(object):
    def filters(self):
        return {
            'slurm_options': slurm_options,
            'slurm_job_problems': slurm_job_problems,
        }
