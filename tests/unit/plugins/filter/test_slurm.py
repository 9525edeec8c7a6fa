# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.hpc.vllm.plugins.filter.slurm import slurm_job_problems, slurm_options

GOOD = {'slurm_time': '02:00:00', 'slurm_gpus': 1, 'slurm_stop_signal_seconds': 120, 'slurm_partition': 'gpu',
        'slurm_job_name': 'hpc-vllm-s', 'slurm_extra_options': ['--exclusive', '--mail-type=END']}


def test_good_settings_have_no_problem():
    assert slurm_job_problems(GOOD) == []
    assert slurm_job_problems(dict(GOOD, slurm_time='', slurm_gpus=0), vllm_device='cpu') == []


@pytest.mark.parametrize('change, device, expected', [
    ({'slurm_time': '2h'}, 'gpu', "slurm_time: '2h' is no Slurm time limit; use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM "
                                  "or D-HH:MM:SS."),
    ({'slurm_time': '00:00:00'}, 'gpu', "slurm_time: '00:00:00' is a time limit of 0 seconds."),
    ({'slurm_gpus': 0}, 'gpu', 'slurm_gpus is 0, but vllm_device is gpu: ask for 1 or more GPUs (or set vllm_device: cpu '
                               'for the CPU build).'),
    ({'slurm_gpus': -1}, 'cpu', 'slurm_gpus must be 0 or more, got -1.'),
    ({'slurm_gpus': 'two'}, 'gpu', "slurm_gpus must be a whole number, got 'two'."),
    ({'slurm_stop_signal_seconds': 0}, 'gpu', 'slurm_stop_signal_seconds must be 1 to 65535 (sbatch --signal), got 0.'),
    ({'slurm_time': '2', 'slurm_stop_signal_seconds': 120}, 'gpu',
     'slurm_stop_signal_seconds (120) is not below slurm_time (2 = 120 s): the job would be told to stop before it '
     'starts serving.'),
    ({'slurm_partition': 'gpu a100'}, 'gpu', "slurm_partition must hold no blank or line break, got 'gpu a100'."),
    ({'slurm_job_name': ''}, 'gpu', 'slurm_job_name must not be empty: teardown finds the job by it.'),
    ({'slurm_extra_options': ['--frobnicate']}, 'gpu', 'slurm_extra_options[0]: sbatch has no option --frobnicate.'),
    ({'slurm_extra_options': ['--exclusive', '--signal=B:USR2@60']}, 'gpu',
     "slurm_extra_options[1]: --signal is set by the deployment's job script; use its own variable if there is one "
     "(slurm_job_name, slurm_time, ...)."),
])
def test_each_problem_names_its_variable(change, device, expected):
    assert slurm_job_problems(dict(GOOD, **change), vllm_device=device) == [expected]


def test_fewer_gpus_than_tensor_parallel_ranks():
    assert slurm_job_problems(dict(GOOD, slurm_gpus=2), tensor_parallel_size=4) == [
        'slurm_gpus is 2, fewer than vllm_tensor_parallel_size 4: ask for at least as many GPUs as vLLM splits the model '
        'over.']


def test_extra_options_as_the_module_takes_them():
    assert slurm_options(['--exclusive', '--mail-type=END', '--comment=a=b']) == [
        {'name': 'exclusive', 'value': None, 'variable': 'slurm_extra_options[0]'},
        {'name': 'mail-type', 'value': 'END', 'variable': 'slurm_extra_options[1]'},
        {'name': 'comment', 'value': 'a=b', 'variable': 'slurm_extra_options[2]'},
    ]
