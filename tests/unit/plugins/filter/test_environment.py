# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.hpc.vllm.plugins.filter.environment import FilterModule, env_file_problems


def test_a_good_environment_has_no_problems():
    assert env_file_problems({'HF_HOME': '/scratch/hf', 'OMP_NUM_THREADS': 8, '_X1': '', 'EMPTY': None}) == {
        'bad_names': [], 'bad_values': []}


@pytest.mark.parametrize('value', ['a\nb', 'trailing\n', '\rcr', 'nul\x00', 'tab\x0bvt', 'u\u2028'])
def test_values_the_file_cannot_hold_are_named_never_shown(value):
    problems = env_file_problems({'TOKEN': value, 'OK': 'rnx0\\n'})  # r, n, x, 0 and a backslash are fine
    assert problems == {'bad_names': [], 'bad_values': ['TOKEN']}
    assert value not in str(problems)


@pytest.mark.parametrize('name', ['MY-VAR', '1ST', 'A B', '', 'A=B', 'Ä'])
def test_names_that_are_no_variable_names(name):
    assert env_file_problems({name: '1'})['bad_names'] == [name]


def test_a_string_is_refused():
    with pytest.raises(AnsibleFilterError, match='needs a dict'):
        env_file_problems('A=1')


def test_filter_module():
    assert FilterModule().filters() == {'env_file_problems': env_file_problems}
