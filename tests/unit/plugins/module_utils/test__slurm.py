# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.hpc.vllm.plugins.module_utils._slurm import (
    extra_option_problems,
    format_seconds,
    parse_record,
    partition_time_limit,
    state_of,
    time_limit_seconds,
)


@pytest.mark.parametrize('text, seconds', [
    ('30', 1800),
    ('30:15', 1815),
    ('02:00:00', 7200),
    ('1-0', 86400),
    ('1-12', 129600),
    ('1-12:30', 131400),
    ('2-00:00:01', 172801),
    ('UNLIMITED', None),
    ('infinite', None),
])
def test_time_limits_as_sbatch_takes_them(text, seconds):
    assert time_limit_seconds(text) == seconds


@pytest.mark.parametrize('text', ['', '1h', '1:2:3:4', '-5', '1-', '0', '00:00:00', 'one hour', '1.5'])
def test_what_sbatch_would_refuse(text):
    with pytest.raises(ValueError):
        time_limit_seconds(text)


@pytest.mark.parametrize('seconds, text', [(59, '00:00:59'), (7200, '02:00:00'), (90061, '1-01:01:01'),
                                           (None, 'UNLIMITED')])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text
    assert seconds is None or time_limit_seconds(text) == seconds


def test_a_record_keeps_values_with_spaces_and_equals_signs():
    record = parse_record('JobId=42 JobName=hpc-vllm-a JobState=CANCELLED Reason=None Dependency=(null) '
                          'Command=/home/r/.hpc-vllm/job.sh --flag=1 TRES=cpu=2,mem=6000M,node=1,gres/gpu=1 '
                          'Comment=two words')
    assert record['JobId'] == '42'
    assert record['Command'] == '/home/r/.hpc-vllm/job.sh --flag=1'
    assert record['TRES'] == 'cpu=2,mem=6000M,node=1,gres/gpu=1'
    assert record['Comment'] == 'two words'
    assert state_of(record) == 'CANCELLED'


@pytest.mark.parametrize('fields, expected', [
    ({'DefaultTime': '00:30:00', 'MaxTime': '04:00:00'}, (1800, 'DefaultTime')),
    ({'DefaultTime': 'NONE', 'MaxTime': '1-00:00:00'}, (86400, 'MaxTime')),
    ({'DefaultTime': 'NONE', 'MaxTime': 'UNLIMITED'}, (None, 'UNLIMITED')),
])
def test_the_partitions_limit_for_a_job_without_time(fields, expected):
    assert partition_time_limit(fields) == expected


@pytest.mark.parametrize('options, problems', [
    (['--exclusive', '--mail-type=END', '--licenses=scratch:1'], []),
    (['-p gpu'], ["slurm_extra_options[0] must be one long option, --name or --name=value (got '-p gpu')."]),
    (['--gpu=2'], ['slurm_extra_options[0]: sbatch has no option --gpu.']),
    (['--exclusive', '--output=/tmp/x'],
     ["slurm_extra_options[1]: --output is set by the deployment's job script; use its own variable if there is "
      "one (slurm_job_name, slurm_time, ...)."]),
])
def test_extra_options(options, problems):
    assert extra_option_problems(options) == problems
