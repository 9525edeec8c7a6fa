# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""hpc.vllm.file_set on real files in a temporary directory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

from ansible_collections.hpc.vllm.plugins.modules import file_set
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module

SECRET = 'sk-file-set-secret'


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _args(root, record='{"a": 1}\n', secret=SECRET):
    return dict(
        directories=[dict(path=os.path.join(root, 'endpoints'))],
        files=[dict(path=os.path.join(root, 'endpoints', 'a.json'), content=record)],
        secret_files=[dict(path=os.path.join(root, 'endpoints', 'a.key'), content=secret + '\n')],
        absent=[os.path.join(root, 'endpoints', 'old.key')],
        _ansible_diff=True,
    )


def test_writes_then_changes_nothing(tmp_path):
    root = str(tmp_path)
    failed, result = run_module(file_set.main, _args(root))
    assert not failed and result['changed']
    assert _mode(os.path.join(root, 'endpoints')) == 0o700
    assert _mode(os.path.join(root, 'endpoints', 'a.key')) == 0o600
    assert open(os.path.join(root, 'endpoints', 'a.key')).read() == SECRET + '\n'
    failed, result = run_module(file_set.main, _args(root))
    assert not failed and not result['changed'] and result['files_changed'] == [] and result['diff'] == []


def test_diffs_the_plain_files_and_never_the_secret_ones(tmp_path):
    root = str(tmp_path)
    run_module(file_set.main, _args(root))
    failed, result = run_module(file_set.main, _args(root, record='{"a": 2}\n', secret=SECRET + '-new'))
    assert not failed
    assert result['files_changed'] == [os.path.join(root, 'endpoints', 'a.json'), os.path.join(root, 'endpoints',
                                                                                               'a.key')]
    assert [(entry['before'], entry['after']) for entry in result['diff']] == [('{"a": 1}\n', '{"a": 2}\n')]
    assert SECRET not in repr(result)


def test_removes_what_must_be_absent(tmp_path):
    root = str(tmp_path)
    run_module(file_set.main, _args(root))
    old = os.path.join(root, 'endpoints', 'old.key')
    open(old, 'w').close()
    failed, result = run_module(file_set.main, _args(root))
    assert not failed and result['files_changed'] == [old] and not os.path.exists(old)


def test_check_mode_writes_nothing(tmp_path):
    root = str(tmp_path)
    failed, result = run_module(file_set.main, _args(root), check_mode=True)
    assert not failed and result['changed'] and len(result['files_changed']) == 3
    assert os.listdir(root) == []


def test_a_directory_in_the_way_fails_with_the_path(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, 'endpoints', 'a.json'))
    failed, result = run_module(file_set.main, _args(root))
    assert failed and 'a.json' in result['msg']
