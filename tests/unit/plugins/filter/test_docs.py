# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every filter has the documentation ansible-doc -t filter shows, and it names the filter's real arguments."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import inspect
import os

import pytest
import yaml

from ansible_collections.hpc.vllm.plugins.filter import endpoints, environment, slurm, status, tunnels

FILTER_DIR = os.path.dirname(os.path.abspath(endpoints.__file__))
FILTERS = dict((name, function) for plugin in (endpoints, environment, slurm, status, tunnels)
               for name, function in plugin.FilterModule().filters().items())


def test_every_doc_file_is_a_filter():
    documented = set(name[:-4] for name in os.listdir(FILTER_DIR) if name.endswith('.yml'))
    assert documented == set(FILTERS)


@pytest.mark.parametrize('name', sorted(FILTERS))
def test_the_doc_names_the_arguments(name):
    with open(os.path.join(FILTER_DIR, name + '.yml')) as handle:
        doc = yaml.safe_load(handle)
    documentation = doc['DOCUMENTATION']
    assert documentation['name'] == name
    assert doc['EXAMPLES'].count('hpc.vllm.' + name) >= 1
    assert '_value' in doc['RETURN']
    parameters = inspect.signature(FILTERS[name]).parameters
    # the piped value is _input; every other parameter is an option of its own name
    assert list(documentation['options']) == ['_input'] + list(parameters)[1:]
    for option, parameter in zip(list(documentation['options'])[1:], list(parameters.values())[1:]):
        spec = documentation['options'][option]
        if parameter.default is inspect.Parameter.empty:
            assert spec.get('required') is True, option
        else:
            # None and () stand for an empty list in the code
            empty = spec['type'] == 'list' and parameter.default in (None, ())
            assert spec.get('default') == ([] if empty else parameter.default), option
    if len(parameters) > 1:
        assert documentation['positional'] == ', '.join(['_input'] + list(parameters)[1:])
