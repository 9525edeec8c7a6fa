# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run hpc.vllm.supervised_service with the real supervise.sh and a real command (sleep) under the
standalone supervisor. The systemd supervisors need a systemd host: molecule and the lab run them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import subprocess

import pytest

from ansible_collections.hpc.vllm.plugins.module_utils import _files, _supervised_service
from ansible_collections.hpc.vllm.plugins.modules import supervised_service
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module

SUPERVISE = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', '_service', 'files',
                         'supervise.sh')
SECRET = 'sk-not-shown-anywhere'


def _run_sh(directory, argv):
    return ('#!/bin/sh\nexec >>%s/service.log 2>&1\ncd %s\nexec %s\n'
            % (directory, directory, ' '.join(argv)))


def _args(directory, argv=('sleep', '600'), **more):
    with open(SUPERVISE) as handle:
        supervise = handle.read()
    args = dict(
        name='test-service',
        directory=directory,
        supervisor='standalone',
        files=[dict(name='supervise.sh', content=supervise, mode='0700'),
               dict(name='run.sh', content=_run_sh(directory, argv), mode='0700')],
        environment=dict(API_KEY=SECRET, B_SETTING='1'),
        environment_header='#\n# Ansible managed\n#',
    )
    args.update(more)
    return args


def _status(directory):
    return subprocess.call([os.path.join(directory, 'supervise.sh'), 'status', directory])


def _pid(directory):
    with open(os.path.join(directory, 'supervise.pid')) as handle:
        return int(handle.read())


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _stop(directory):
    if os.path.exists(os.path.join(directory, 'supervise.sh')):
        subprocess.call([os.path.join(directory, 'supervise.sh'), 'stop', directory], stdout=subprocess.DEVNULL)


@pytest.fixture
def service_dir(tmp_path):
    directory = str(tmp_path / 'services' / 'test-service')
    yield directory
    _stop(directory)


# A stop waits until the loop's process is gone, and an orphan is gone only once init has reaped it, which
# takes seconds in some sandboxes: one running service serves the tests that only look, and check mode
# shows what a change would restart without stopping anything.
@pytest.fixture(scope='module')
def running(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp('running') / 'services' / 'test-service')
    failed, result = run_module(supervised_service.main, _args(directory))
    assert not failed, result
    yield directory, result
    _stop(directory)


def test_the_first_run_writes_the_files_and_starts_the_loop(running):
    directory, result = running
    assert result['changed'] and result['action'] == 'started'
    assert _mode(directory) == 0o700
    assert _mode(os.path.join(directory, 'run.sh')) == 0o700
    assert _mode(os.path.join(directory, 'env')) == 0o600
    with open(os.path.join(directory, 'env')) as handle:
        assert handle.read() == '#\n# Ansible managed\n#\nAPI_KEY=%s\nB_SETTING=1\n' % SECRET
    assert _status(directory) == 0


def test_a_second_run_changes_nothing_and_keeps_the_process(running):
    directory = running[0]
    pid = _pid(directory)
    failed, result = run_module(supervised_service.main, _args(directory))
    assert not failed, result
    assert not result['changed'] and result['action'] == 'running' and result['files_changed'] == []
    assert _pid(directory) == pid


@pytest.mark.parametrize('change', ['argv', 'environment', 'mode', 'extra file', 'file elsewhere', 'remove',
                                    'restart'])
def test_every_change_restarts_the_service(running, tmp_path, change):
    """In check mode: what changed, and that it would restart; nothing is written or stopped."""
    directory = running[0]
    pid = _pid(directory)
    with open(os.path.join(directory, 'run.sh')) as handle:
        before = handle.read()
    args = _args(directory)
    changed = []
    if change == 'argv':
        args = _args(directory, argv=('sleep', '601'))
        changed = [os.path.join(directory, 'run.sh')]
    elif change == 'environment':
        args['environment'] = dict(API_KEY=SECRET, B_SETTING='2')
        changed = [os.path.join(directory, 'env')]
    elif change == 'mode':
        args['files'][1]['mode'] = '0500'
        changed = [os.path.join(directory, 'run.sh')]
    elif change == 'extra file':
        args['files'].append(dict(name='tunnel.json', content='{}\n'))
        changed = [os.path.join(directory, 'tunnel.json')]
    elif change == 'file elsewhere':
        args['files'].append(dict(name=str(tmp_path / 'known_hosts'), content='host key\n'))
        changed = [str(tmp_path / 'known_hosts')]
    elif change == 'remove':
        args['remove_files'] = ['service.log']
        changed = [os.path.join(directory, 'service.log')]
    else:
        args['restart'] = True
    args['_ansible_diff'] = True
    failed, result = run_module(supervised_service.main, args, check_mode=True)
    assert not failed, result
    assert result['changed'] and result['action'] == 'restarted'
    assert result['files_changed'] == changed
    if change == 'argv':
        assert [entry['after_header'] for entry in result['diff']] == changed
        assert 'sleep 601' in result['diff'][0]['after'] and 'sleep 600' in result['diff'][0]['before']
    with open(os.path.join(directory, 'run.sh')) as handle:
        assert handle.read() == before
    assert _pid(directory) == pid and _mode(os.path.join(directory, 'run.sh')) == 0o700


def test_the_environment_never_shows_in_the_result_or_the_diff(running):
    args = _args(running[0])
    args['environment'] = dict(API_KEY=SECRET + '-new', B_SETTING='1')
    args['_ansible_diff'] = True
    failed, result = run_module(supervised_service.main, args, check_mode=True)
    assert not failed, result
    assert os.path.join(running[0], 'env') in result['files_changed']
    assert result['diff'] == []
    assert SECRET not in repr(result)


def test_a_change_restarts_the_process_and_writes_the_files(service_dir, tmp_path):
    run_module(supervised_service.main, _args(service_dir))
    pid = _pid(service_dir)
    args = _args(service_dir, argv=('sleep', '601'))
    known_hosts = str(tmp_path / 'known_hosts')
    args['files'].append(dict(name=known_hosts, content='host key\n'))
    failed, result = run_module(supervised_service.main, args)
    assert not failed, result
    assert result['changed'] and result['action'] == 'restarted'
    assert _status(service_dir) == 0 and _pid(service_dir) != pid
    assert open(known_hosts).read() == 'host key\n' and _mode(known_hosts) == 0o600
    with open(os.path.join(service_dir, 'run.sh')) as handle:
        assert 'sleep 601' in handle.read()


def test_check_mode_on_a_new_service_writes_nothing(service_dir):
    failed, result = run_module(supervised_service.main, _args(service_dir), check_mode=True)
    assert not failed, result
    assert result['changed'] and result['action'] == 'started'
    assert not os.path.exists(service_dir)


@pytest.mark.parametrize('environment, named', [
    ({'BAD-NAME': 'x'}, 'BAD-NAME'),
    ({'GOOD': 'line one\nline two'}, 'GOOD'),
])
def test_an_environment_the_file_cannot_hold_is_refused_before_writing(service_dir, environment, named):
    failed, result = run_module(supervised_service.main, _args(service_dir, environment=environment))
    assert failed
    assert named in result['msg'] and 'line two' not in result['msg']
    assert not os.path.exists(service_dir)


@pytest.mark.parametrize('files, message', [
    ([dict(name='../escape', content='x')], 'plain file names'),
    ([dict(name='sub/dir', content='x')], 'plain file names'),
    ([dict(name='run.sh', content='x')], 'supervise.sh'),
])
def test_bad_file_lists_are_refused(service_dir, files, message):
    failed, result = run_module(supervised_service.main, _args(service_dir, files=files))
    assert failed and message in result['msg']
    assert not os.path.exists(service_dir)


def test_a_systemd_supervisor_needs_the_unit(service_dir):
    failed, result = run_module(supervised_service.main, _args(service_dir, supervisor='systemd'))
    assert failed and 'unit' in result['msg']


def test_write_file_never_leaves_a_readable_secret(tmp_path):
    path = str(tmp_path / 'env')
    assert _files.write_file(path, 'KEY=1\n', 0o600) == (True, None)
    assert _mode(path) == 0o600
    assert _files.write_file(path, 'KEY=1\n', 0o600) == (False, 'KEY=1\n')
    assert os.listdir(str(tmp_path)) == ['env']


def test_env_file_content_sorts_and_writes_none_empty():
    assert _supervised_service.env_file_content({'B': 2, 'A': None}) == 'A=\nB=2\n'
    assert _supervised_service.env_file_content({}, '# head\n') == '# head\n'
