# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hpc.vllm.jsonl_audit callback: its records from fake results, parallel writers on one file, and a real
ansible-playbook run whose audit file must not contain the API key the playbook prints."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import fcntl
import json
import multiprocessing
import os
import re
import stat
import subprocess
import sys
import threading
import uuid
from unittest import mock

import pytest
import yaml

from ansible import constants as C
from ansible import context
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.hpc.vllm.plugins.callback import jsonl_audit


SECRET = 'sk-audit-test-0123456789abcdef'
SHORT = 'short7!'
NO_LOG_MSG = "the output has been hidden due to 'no_log: true'"
COMMON_KEYS = {'ts', 'event', 'run_id', 'pid'}
RESULT_KEYS = COMMON_KEYS | {'host', 'play', 'task', 'action', 'status', 'changed', 'duration_s', 'msg'}


# Fakes of what ansible-core hands to a callback

class FakeVariableManager:
    """Answers get_vars with the variables of each host name; ``hosts`` plays the inventory."""

    def __init__(self, host_vars):
        self.host_vars = host_vars
        self._inventory = mock.Mock(hosts=dict((name, fake_host(name)) for name in host_vars))

    def get_vars(self, play=None, host=None, task=None, **kwargs):
        variables = dict(self.host_vars.get(host.get_name(), {})) if host is not None else {}
        if task is not None:
            variables.update(task.get_vars())
        return variables


def fake_host(name):
    host = mock.Mock()
    host.get_name.return_value = name
    host.name = name
    return host


def fake_play(host_vars=None, name='Deploy'):
    play = mock.Mock(_loader=None)
    play.get_name.return_value = name
    play.get_variable_manager.return_value = FakeVariableManager(host_vars or {})
    return play


def fake_task(name='Start vLLM', action='ansible.builtin.command', no_log=False, task_vars=None):
    task = mock.Mock(_uuid=str(uuid.uuid4()), action=action.rsplit('.', 1)[-1], resolved_action=action, no_log=no_log,
                     _role=None)
    task.get_name.return_value = name
    task.get_vars.return_value = task_vars or {}
    return task


def fake_result(host, task, data):
    result = mock.Mock(_host=host if not isinstance(host, str) else fake_host(host), _task=task, _result=data,
                       task_name=task.get_name())
    return result


def fake_stats(summaries):
    stats = mock.Mock(processed=dict((host, 1) for host in summaries))
    stats.summarize.side_effect = lambda host: dict(summaries[host])
    return stats


def summary(ok=0, changed=0, failures=0, unreachable=0, skipped=0, rescued=0, ignored=0):
    return {'ok': ok, 'changed': changed, 'failures': failures, 'unreachable': unreachable, 'skipped': skipped,
            'rescued': rescued, 'ignored': ignored}


@pytest.fixture(autouse=True)
def _plugin_config():
    """Register the plugin's options as the plugin loader would, for set_options to read them."""
    defs = yaml.safe_load(jsonl_audit.DOCUMENTATION)['options']
    C.config.initialize_plugin_configuration_definitions('callback', 'hpc.vllm.jsonl_audit', defs)


@pytest.fixture
def cliargs(monkeypatch):
    args = {'inventory': ['/srv/inventories/hpc.yml'], 'check': False}
    monkeypatch.setattr(context, 'CLIARGS', args)
    return args


def new_callback(path, secret_variables=None, display=None):
    callback = jsonl_audit.CallbackModule(display=display)
    callback._load_name = 'hpc.vllm.jsonl_audit'
    direct = {'path': str(path)}
    if secret_variables is not None:
        direct['secret_variables'] = secret_variables
    callback.set_options(direct=direct)
    return callback


def read_records(path):
    with open(str(path), 'rb') as f:
        raw = f.read()
    assert raw.endswith(b'\n')
    return raw, [json.loads(line) for line in raw.decode('utf-8').splitlines()]


def started(tmp_path, cliargs, host_vars=None, secret_variables=None, display=None):
    """A callback after the start of a run and of a play over ``host_vars``."""
    log = tmp_path / 'audit.jsonl'
    callback = new_callback(log, secret_variables, display)
    callback.v2_playbook_on_start(mock.Mock(_file_name=str(tmp_path / 'site.yml')))
    callback.v2_playbook_on_play_start(fake_play(host_vars or {'gpu1': {'vllm_api_key': SECRET}}))
    return callback, log


def run_task(callback, data, event='v2_runner_on_ok', host='gpu1', task=None, **kwargs):
    task = task or fake_task()
    host = fake_host(host)
    callback.v2_playbook_on_task_start(task, False)
    callback.v2_runner_on_start(host, task)
    getattr(callback, event)(fake_result(host, task, data), **kwargs)
    return task


# Records

def test_run_start(tmp_path, cliargs):
    cliargs['check'] = True
    log = started(tmp_path, cliargs)[1]
    records = read_records(log)[1]
    assert len(records) == 1
    record = records[0]
    assert set(record) == COMMON_KEYS | {'playbook', 'user', 'inventory', 'check_mode', 'ansible_version',
                                         'collection_version', 'python_version'}
    assert record['event'] == 'run_start'
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', record['ts'])
    assert str(uuid.UUID(record['run_id'])) == record['run_id']
    assert record['pid'] == os.getpid()
    assert record['playbook'] == str(tmp_path / 'site.yml')
    assert record['inventory'] == ['/srv/inventories/hpc.yml']
    assert record['check_mode'] is True
    with open(os.path.join(os.path.dirname(jsonl_audit.__file__), '..', '..', 'galaxy.yml')) as f:
        assert record['collection_version'] == yaml.safe_load(f)['version']


STATUS_CASES = [
    # id, event, kwargs, data, status, changed
    ('ok', 'v2_runner_on_ok', {}, {'changed': False, 'msg': 'done'}, 'ok', False),
    ('changed', 'v2_runner_on_ok', {}, {'changed': True, 'stdout': 'started'}, 'changed', True),
    ('failed', 'v2_runner_on_failed', {}, {'failed': True, 'changed': True, 'rc': 3, 'msg': 'non-zero return code',
                                           'stderr': 'no GPU'}, 'failed', True),
    ('ignored', 'v2_runner_on_failed', {'ignore_errors': True}, {'failed': True, 'msg': 'boom'}, 'ignored', False),
    ('skipped', 'v2_runner_on_skipped', {}, {'skipped': True, 'skip_reason': 'Conditional result was False',
                                             'changed': False}, 'skipped', False),
    ('unreachable', 'v2_runner_on_unreachable', {}, {'unreachable': True, 'msg': 'ssh: connect timed out'},
     'unreachable', False),
]


@pytest.mark.parametrize('event, kwargs, data, status, changed', [case[1:] for case in STATUS_CASES],
                         ids=[case[0] for case in STATUS_CASES])
def test_task_result_status(tmp_path, cliargs, event, kwargs, data, status, changed):
    callback, log = started(tmp_path, cliargs)
    run_task(callback, data, event, **kwargs)
    records = read_records(log)[1]
    record = records[-1]
    assert set(record) == RESULT_KEYS
    assert record['event'] == 'task_result'
    assert record['run_id'] == records[0]['run_id']
    assert (record['host'], record['play'], record['task'], record['action']) == (
        'gpu1', 'Deploy', 'Start vLLM', 'ansible.builtin.command')
    assert (record['status'], record['changed']) == (status, changed)
    assert 0 <= record['duration_s'] < 5


MSG_CASES = [
    # id, failed, data, msg
    ('msg only', False, {'msg': 'All items completed'}, 'All items completed'),
    ('stdout when no msg', False, {'stdout': 'line1\nline2\n', 'stderr': ''}, 'line1\nline2'),
    ('msg and stderr of a failure', True, {'msg': 'non-zero return code', 'stderr': 'E: no space', 'stdout': 'x'},
     'non-zero return code\nE: no space'),
    ('stdout of a failure without stderr', True, {'msg': 'failed', 'stdout': 'out'}, 'failed\nout'),
    ('stdout lines', False, {'stdout': ['a', 'b']}, 'a\nb'),
    ('structured msg', False, {'msg': {'a': 1}}, '{"a": 1}'),
    ('nothing', False, {'changed': False}, None),
]


@pytest.mark.parametrize('failed, data, msg', [case[1:] for case in MSG_CASES], ids=[case[0] for case in MSG_CASES])
def test_msg(failed, data, msg):
    assert jsonl_audit.CallbackModule._summary(data, failed) == msg


def test_msg_is_cut_to_the_tail_of_the_output(tmp_path, cliargs):
    callback, log = started(tmp_path, cliargs)
    stderr = ''.join('line %05d\n' % i for i in range(5000))
    run_task(callback, {'failed': True, 'msg': 'non-zero return code', 'stderr': stderr}, 'v2_runner_on_failed')
    msg = read_records(log)[1][-1]['msg']
    assert msg.startswith('non-zero return code\n...')
    assert msg.endswith('line 04999')
    assert len(msg) <= jsonl_audit.MSG_LIMIT + 50


def test_a_secret_cut_by_the_limit_leaves_no_part(tmp_path, cliargs):
    callback, log = started(tmp_path, cliargs)
    # the cut falls in the middle of the secret: without redaction first, its tail would remain
    stdout = 'y' * 100 + SECRET + 'x' * (jsonl_audit.MSG_LIMIT - len(SECRET) // 2)
    run_task(callback, {'stdout': stdout})
    raw, records = read_records(log)
    assert SECRET[len(SECRET) // 2:].encode() not in raw
    assert records[-1]['msg'].startswith('...')


@pytest.mark.parametrize('data, task_no_log', [
    ({'censored': "the output has been hidden due to the fact that 'no_log: true' was specified for this result",
      'changed': True}, False),
    ({'changed': True, 'stdout': SECRET + ' and more', 'diagnostics': {'x': 'y'}}, True),
    ({'changed': True, '_ansible_no_log': True, 'msg': 'private'}, False),
], ids=['censored', 'task no_log', '_ansible_no_log'])
def test_no_log_writes_no_result_data(tmp_path, cliargs, data, task_no_log):
    callback, log = started(tmp_path, cliargs, host_vars={'gpu1': {}})
    run_task(callback, data, task=fake_task(no_log=task_no_log))
    record = read_records(log)[1][-1]
    assert set(record) == RESULT_KEYS
    assert (record['status'], record['changed'], record['msg']) == ('changed', True, NO_LOG_MSG)


def test_loop_items(tmp_path, cliargs):
    callback, log = started(tmp_path, cliargs)
    task = fake_task(name='Install packages')
    host = fake_host('gpu1')
    clock = mock.Mock(monotonic=mock.Mock(side_effect=[100.0, 101.0, 103.0, 106.0, 110.0, 111.0, 120.0]))
    with mock.patch.object(jsonl_audit, 'time', clock):
        callback.v2_playbook_on_task_start(task, False)
        callback.v2_runner_on_start(host, task)
        callback.v2_runner_item_on_ok(fake_result(host, task, {'item': 'vllm', 'changed': True, 'msg': 'installed'}))
        callback.v2_runner_item_on_failed(fake_result(host, task, {'item': {'name': 'torch'}, 'failed': True,
                                                                   '_ansible_item_label': 'torch', 'msg': 'no wheel'}))
        callback.v2_runner_item_on_skipped(fake_result(host, task, {'item': 'x' * 500, 'skipped': True}))
        callback.v2_runner_item_on_ok(fake_result(host, task, {'item': 'secret', '_ansible_no_log': True,
                                                               'censored': 'hidden'}))
        callback.v2_runner_on_failed(fake_result(host, task, {'failed': True, 'changed': True,
                                                              'msg': 'One or more items failed', 'results': []}))
    records = read_records(log)[1][1:]
    assert [(r['event'], r['status'], r.get('item')) for r in records] == [
        ('item_result', 'changed', 'vllm'),
        ('item_result', 'failed', 'torch'),
        ('item_result', 'skipped', 'x' * jsonl_audit.ITEM_LIMIT + '...'),
        ('item_result', 'ok', None),
        ('task_result', 'failed', None),
    ]
    assert records[1]['msg'] == 'no wheel'
    assert records[3]['msg'] == NO_LOG_MSG and 'item' not in records[3]
    assert all(r['task'] == 'Install packages' for r in records)
    # each item from the end of the one before (the first from the start on the host), the task in all
    assert [r['duration_s'] for r in records] == [2.0, 3.0, 4.0, 1.0, 19.0]


def test_diagnostics_are_copied_and_redacted(tmp_path, cliargs):
    callback, log = started(tmp_path, cliargs)
    diagnostics = {'gpus': [{'name': 'H100', 'memory_mib': 81559}],
                   'environment': {'VLLM_API_KEY': SECRET, 'PATH': '/usr/bin'}}
    run_task(callback, {'changed': False, 'diagnostics': diagnostics}, task=fake_task(action='hpc.vllm.node_diagnostics'))
    raw, records = read_records(log)
    assert records[-1]['diagnostics'] == {'gpus': [{'name': 'H100', 'memory_mib': 81559}],
                                          'environment': {'VLLM_API_KEY': '********', 'PATH': '/usr/bin'}}
    assert SECRET.encode() not in raw


def test_diagnostics_only_when_a_dict(tmp_path, cliargs):
    callback, log = started(tmp_path, cliargs)
    run_task(callback, {'diagnostics': 'text'})
    assert 'diagnostics' not in read_records(log)[1][-1]


# Secrets

def test_secrets_are_redacted_everywhere(tmp_path, cliargs):
    host_vars = {
        'gpu1': {'vllm_api_key': SECRET, 'tunnel_keys': {'a': 'tunnel-secret-aaaa', 'b': ['tunnel-secret-bbbb', 42]}},
        'gpu2': {'vllm_api_key': SHORT},
    }
    callback, log = started(tmp_path, cliargs, host_vars=host_vars, secret_variables=['vllm_api_key', 'tunnel_keys'])
    task = fake_task(name='Echo %s' % SECRET)
    run_task(callback, {'msg': 'key=%s, short=%s, t=tunnel-secret-bbbb' % (SECRET, SHORT)}, task=task)
    run_task(callback, {'diagnostics': {SECRET: [{'deep': 'Bearer ' + SECRET}], 'n': 42, 'ok': True}},
             host='gpu2', task=task)
    raw, records = read_records(log)
    for secret in (SECRET, 'tunnel-secret-aaaa', 'tunnel-secret-bbbb'):
        assert secret.encode() not in raw
    assert records[1]['task'] == 'Echo ********'
    assert records[1]['msg'] == 'key=********, short=%s, t=********' % SHORT
    assert records[2]['diagnostics'] == {'********': [{'deep': 'Bearer ********'}], 'n': 42, 'ok': True}


def test_a_secret_containing_another_is_redacted_whole():
    secrets = sorted({'abcdefgh', 'xxabcdefghyy'}, key=len, reverse=True)
    assert jsonl_audit.redact('1 xxabcdefghyy 2 abcdefgh', secrets) == '1 ******** 2 ********'


def test_secret_strings():
    assert jsonl_audit.secret_strings({'a': ['12345678', 'short', None, True, 123456789], 'b': {'c': 'longer-value'}}) == {
        '12345678', 'longer-value'}


def test_a_secret_set_by_set_fact_is_redacted_afterwards(tmp_path, cliargs):
    callback, log = started(tmp_path, cliargs, host_vars={'gpu1': {}})
    manager = callback._play.get_variable_manager()
    manager.host_vars['gpu1']['vllm_api_key'] = 'runtime-secret-value'
    run_task(callback, {'censored': 'hidden', 'changed': False},
             task=fake_task(action='ansible.builtin.set_fact', no_log=True))
    run_task(callback, {'msg': 'runtime-secret-value'}, task=fake_task(action='ansible.builtin.debug'))
    raw, records = read_records(log)
    assert b'runtime-secret-value' not in raw
    assert records[-1]['msg'] == '********'


def test_a_secret_set_in_the_vars_of_a_task_is_redacted(tmp_path, cliargs):
    callback, log = started(tmp_path, cliargs, host_vars={'gpu1': {}})
    task = fake_task(action='ansible.builtin.debug', task_vars={'vllm_api_key': 'task-level-secret'})
    run_task(callback, {'msg': 'task-level-secret'}, task=task)
    assert read_records(log)[1][-1]['msg'] == '********'


def test_a_value_that_fails_to_render_is_skipped(tmp_path, cliargs):
    with mock.patch.object(jsonl_audit.Templar, 'template', side_effect=[Exception('undefined'), SECRET]):
        callback, log = started(tmp_path, cliargs, host_vars={'gpu1': {'vllm_api_key': '{{ nope }}'},
                                                              'gpu2': {'vllm_api_key': SECRET}})
    run_task(callback, {'msg': SECRET})
    assert read_records(log)[1][-1]['msg'] == '********'


# Run end

def test_run_end(tmp_path, cliargs):
    callback, log = started(tmp_path, cliargs)
    callback.v2_playbook_on_stats(fake_stats({
        'gpu1': summary(ok=5, changed=2, ignored=1, rescued=1),
        'login1': summary(ok=3, skipped=1),
    }))
    record = read_records(log)[1][-1]
    assert set(record) == COMMON_KEYS | {'duration_s', 'hosts', 'status'}
    assert record['event'] == 'run_end'
    assert record['status'] == 'ok'
    assert record['duration_s'] >= 0
    assert record['hosts'] == {
        'gpu1': {'ok': 5, 'changed': 2, 'failed': 0, 'unreachable': 0, 'skipped': 0, 'rescued': 1, 'ignored': 1},
        'login1': {'ok': 3, 'changed': 0, 'failed': 0, 'unreachable': 0, 'skipped': 1, 'rescued': 0, 'ignored': 0},
    }


@pytest.mark.parametrize('counts', [summary(ok=1, failures=1), summary(unreachable=1)], ids=['failed', 'unreachable'])
def test_run_end_failed(tmp_path, cliargs, counts):
    callback, log = started(tmp_path, cliargs)
    callback.v2_playbook_on_stats(fake_stats({'gpu1': summary(ok=2), 'gpu2': counts}))
    assert read_records(log)[1][-1]['status'] == 'failed'


def test_each_playbook_of_a_command_is_a_run_with_its_own_counts(tmp_path, cliargs):
    callback, log = started(tmp_path, cliargs)
    callback.v2_playbook_on_stats(fake_stats({'gpu1': summary(ok=2, changed=1)}))
    callback.v2_playbook_on_start(mock.Mock(_file_name=str(tmp_path / 'second.yml')))
    callback.v2_playbook_on_stats(fake_stats({'gpu1': summary(ok=5, changed=1), 'gpu2': summary(ok=1)}))
    records = read_records(log)[1]
    assert [r['event'] for r in records] == ['run_start', 'run_end', 'run_start', 'run_end']
    assert records[0]['run_id'] == records[1]['run_id'] != records[2]['run_id'] == records[3]['run_id']
    assert records[3]['hosts']['gpu1']['ok'] == 3 and records[3]['hosts']['gpu1']['changed'] == 0
    assert records[3]['hosts']['gpu2']['ok'] == 1


# Options and the file

def test_options_from_the_environment(tmp_path, monkeypatch, cliargs):
    monkeypatch.setenv('HPC_VLLM_AUDIT_LOG', str(tmp_path / 'env.jsonl'))
    monkeypatch.setenv('HPC_VLLM_AUDIT_SECRET_VARIABLES', 'vllm_api_key,other_key')
    callback = jsonl_audit.CallbackModule()
    callback._load_name = 'hpc.vllm.jsonl_audit'
    callback.set_options()
    assert callback.get_option('secret_variables') == ['vllm_api_key', 'other_key']
    callback.v2_playbook_on_start(mock.Mock(_file_name=None))
    callback.v2_playbook_on_play_start(fake_play({'gpu1': {'other_key': 'other-secret-value'}}))
    run_task(callback, {'msg': 'other-secret-value'})
    assert read_records(tmp_path / 'env.jsonl')[1][-1]['msg'] == '********'


def test_default_path_is_relative_to_the_current_directory(tmp_path, monkeypatch, cliargs):
    monkeypatch.delenv('HPC_VLLM_AUDIT_LOG', raising=False)
    monkeypatch.chdir(tmp_path)
    callback = jsonl_audit.CallbackModule()
    callback._load_name = 'hpc.vllm.jsonl_audit'
    callback.set_options()
    callback.v2_playbook_on_start(mock.Mock(_file_name=None))
    assert read_records(tmp_path / 'enterprise.jsonl')[1][0]['event'] == 'run_start'


def test_file_is_created_0600_with_its_directory_and_appended_to(tmp_path, cliargs):
    log = tmp_path / 'new' / 'dir' / 'audit.jsonl'
    new_callback(log).v2_playbook_on_start(mock.Mock(_file_name=None))
    new_callback(log).v2_playbook_on_start(mock.Mock(_file_name=None))
    assert stat.S_IMODE(os.stat(str(log)).st_mode) == 0o600
    assert len(read_records(log)[1]) == 2


def test_an_existing_file_keeps_its_mode(tmp_path, cliargs):
    log = tmp_path / 'audit.jsonl'
    log.write_text(u'{"event": "older"}\n')
    os.chmod(str(log), 0o640)
    new_callback(log).v2_playbook_on_start(mock.Mock(_file_name=None))
    assert stat.S_IMODE(os.stat(str(log)).st_mode) == 0o640
    assert [r['event'] for r in read_records(log)[1]] == ['older', 'run_start']


def test_a_write_failure_warns_once_and_the_run_goes_on(tmp_path, cliargs):
    blocker = tmp_path / 'file'
    blocker.write_text(u'')
    display = mock.Mock(verbosity=0)
    callback = new_callback(blocker / 'audit.jsonl', display=display)
    callback.v2_playbook_on_start(mock.Mock(_file_name=None))
    callback.v2_playbook_on_play_start(fake_play())
    run_task(callback, {'msg': 'x'})
    callback.v2_playbook_on_stats(fake_stats({'gpu1': summary(ok=1)}))
    assert display.warning.call_count == 1
    assert 'cannot write the audit log' in display.warning.call_args[0][0]


def test_collection_version(tmp_path):
    manifest = tmp_path / 'installed'
    manifest.mkdir()
    (manifest / 'MANIFEST.json').write_text(u'{"collection_info": {"version": "1.2.3"}}')
    (manifest / 'galaxy.yml').write_text(u'version: 9.9.9\n')
    checkout = tmp_path / 'checkout'
    checkout.mkdir()
    (checkout / 'galaxy.yml').write_text(u'namespace: hpc\nversion: 0.4.0\n')
    broken = tmp_path / 'broken'
    broken.mkdir()
    (broken / 'galaxy.yml').write_text(u'version: [\n')
    assert jsonl_audit.collection_version(str(manifest)) == '1.2.3'
    assert jsonl_audit.collection_version(str(checkout)) == '0.4.0'
    assert jsonl_audit.collection_version(str(broken)) is None
    assert jsonl_audit.collection_version(str(tmp_path)) is None


# Parallel writers

WRITERS = 8
LINES_PER_WRITER = 300


def _writer(args):
    path, writer = args
    for i in range(LINES_PER_WRITER):
        # every 10th line is larger than a pipe buffer, so that unlocked writes would interleave
        padding = 'x' * (70000 if i % 10 == 0 else i)
        jsonl_audit.append_line(path, jsonl_audit.serialize({'writer': writer, 'i': i, 'padding': padding}))


def test_parallel_writers_never_interleave(tmp_path):
    path = str(tmp_path / 'audit.jsonl')
    pool = multiprocessing.get_context('fork').Pool(WRITERS)
    try:
        pool.map(_writer, [(path, writer) for writer in range(WRITERS)])
    finally:
        pool.close()
        pool.join()
    records = read_records(path)[1]
    assert len(records) == WRITERS * LINES_PER_WRITER
    assert sorted((r['writer'], r['i']) for r in records) == [
        (w, i) for w in range(WRITERS) for i in range(LINES_PER_WRITER)]


def test_a_writer_waits_for_the_lock(tmp_path):
    # On a local filesystem Linux rarely splits an O_APPEND write; on NFS and for partial writes only the lock
    # keeps lines whole: check that it is taken.
    path = tmp_path / 'audit.jsonl'
    path.write_text(u'')
    fd = os.open(str(path), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        writer = threading.Thread(target=jsonl_audit.append_line, args=(str(path), '{}\n'))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and path.read_text() == u''
        fcntl.flock(fd, fcntl.LOCK_UN)
        writer.join(10)
        assert not writer.is_alive() and path.read_text() == u'{}\n'
    finally:
        os.close(fd)


# A real ansible-playbook

PLAYBOOK = """
- name: Audit trail
  hosts: all
  gather_facts: false
  tasks:
    - name: Print the key
      ansible.builtin.debug:
        msg: "the key is {{ vllm_api_key }}"
    - name: Echo the key
      ansible.builtin.command: echo {{ vllm_api_key }}
      changed_when: true
    - name: Fail with the key
      ansible.builtin.command: sh -c 'echo {{ vllm_api_key }} >&2; exit 3'
      ignore_errors: true
    - name: Hide the key
      ansible.builtin.debug:
        msg: "{{ vllm_api_key }}"
      no_log: true
    - name: Loop over the key
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop:
        - plain
        - "{{ vllm_api_key }}"
"""

EXPECTED = [
    # task, status, changed
    ('Print the key', 'ok', False),
    ('Echo the key', 'changed', True),
    ('Fail with the key', 'ignored', True),
    ('Hide the key', 'ok', False),
    ('Loop over the key', 'ok', False),
]


@pytest.mark.parametrize('source', ['extra_vars', 'vaulted_inventory'])
def test_real_playbook(tmp_path, source, real_ansible):
    ansible_playbook, collections = real_ansible

    host_vars = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    args = [ansible_playbook, '-i', 'inventory.yml', 'playbook.yml']
    if source == 'extra_vars':
        (tmp_path / 'secrets.yml').write_text(u'vllm_api_key: %s\n' % SECRET)
        args += ['-e', '@secrets.yml']
        inventory = {'all': {'hosts': {'localhost': host_vars}}}
        dumped = yaml.safe_dump(inventory)
    else:
        # from a vaulted variable, through a template: the plugin must render and decrypt to know the value
        vault = VaultLib([('default', VaultSecret(b'test-vault-password'))])
        encrypted = vault.encrypt(SECRET).decode()
        host_vars = dict(host_vars, vllm_api_key='{{ vault_vllm_api_key }}', vault_vllm_api_key='VAULTED')
        dumped = yaml.safe_dump({'all': {'hosts': {'localhost': host_vars}}}).replace(
            'VAULTED', '!vault |\n' + ''.join('          %s\n' % line for line in encrypted.splitlines()))
        (tmp_path / 'vault-password').write_text(u'test-vault-password\n')
        args += ['--vault-password-file', 'vault-password']
    (tmp_path / 'inventory.yml').write_text(dumped)
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)

    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'HPC_VLLM_')))
    env.update(ANSIBLE_CALLBACKS_ENABLED='hpc.vllm.jsonl_audit', HPC_VLLM_AUDIT_LOG=str(tmp_path / 'log' / 'audit.jsonl'),
               ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_RETRY_FILES_ENABLED='0')
    proc = subprocess.run(args, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=300, check=False)
    output = proc.stdout.decode('utf-8', 'replace')
    assert proc.returncode == 0, output
    assert SECRET in output, 'the playbook must print the key for the test to mean anything'
    assert '[WARNING]' not in output, output

    raw, records = read_records(tmp_path / 'log' / 'audit.jsonl')
    assert SECRET.encode() not in raw
    assert stat.S_IMODE(os.stat(str(tmp_path / 'log' / 'audit.jsonl')).st_mode) == 0o600

    assert [r['event'] for r in records] == ['run_start'] + ['task_result'] * 4 + ['item_result'] * 2 + [
        'task_result', 'run_end']
    assert len(set(r['run_id'] for r in records)) == 1
    assert all(r['pid'] == records[0]['pid'] for r in records)
    start, end = records[0], records[-1]
    assert start['playbook'] == str(tmp_path / 'playbook.yml')
    assert start['inventory'] == [str(tmp_path / 'inventory.yml')]
    assert start['check_mode'] is False
    assert start['ansible_version'] and start['python_version'] and start['user']
    assert end['status'] == 'ok'
    assert end['hosts'] == {'localhost': {'ok': 5, 'changed': 2, 'failed': 0, 'unreachable': 0, 'skipped': 0,
                                          'rescued': 0, 'ignored': 1}}

    tasks = [r for r in records if r['event'] == 'task_result']
    assert [(r['task'], r['status'], r['changed']) for r in tasks] == EXPECTED
    assert all(r['host'] == 'localhost' and r['play'] == 'Audit trail' for r in tasks)
    assert tasks[0]['msg'] == 'the key is ********'
    assert tasks[1]['msg'] == '********'
    assert tasks[2]['msg'] == 'non-zero return code\n********'
    assert set(tasks[3]) == RESULT_KEYS and tasks[3]['msg'] == NO_LOG_MSG
    items = [r for r in records if r['event'] == 'item_result']
    assert [(r['item'], r['msg']) for r in items] == [('plain', 'plain'), ('********', '********')]
