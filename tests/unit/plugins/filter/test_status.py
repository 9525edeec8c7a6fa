# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.hpc.vllm.plugins.filter.status import HOPS, FilterModule, status_report

INVENTORY = ['/inv/hosts.yml']
REPLY = {'choices': [{'message': {'content': 'x'}, 'finish_reason': 'length'}], 'usage': {'completion_tokens': 1}}


def record(name, compute, login_nodes, local_port=18000, remote_port=8020):
    return {'name': name, 'base_url': 'http://127.0.0.1:%d/v1' % local_port, 'local_port': local_port,
            'model': 'tiny', 'compute_host': compute, 'vllm_port': 8000, 'remote_port': remote_port,
            'bastions': ['login'], 'login_nodes': login_nodes}


def listener(ours=True, user='researcher'):
    return {'address': '127.0.0.1', 'port': 8020, 'user': user, 'ours': ours}


@pytest.fixture
def healthy():
    """A lab with two deployments where every hop works: records and the facts the plays collect."""
    records = {'a': record('a', 'compute-a', ['bastion-a']),
               'b': record('b', 'compute-b', ['bastion-b1', 'bastion-b2'], 18001, 8020)}
    hostvars = {
        'compute-a': {'hpc_vllm_status_vllm': {'ok': True, 'msg': 'ready'}},
        'compute-b': {'hpc_vllm_status_vllm': {'ok': True, 'msg': 'ready'}},
        'bastion-a': {'hpc_vllm_status_login': {'8020': {'listeners': [listener()], 'health_status': 200}}},
        'bastion-b1': {'hpc_vllm_status_login': {'8020': {'listeners': [listener()], 'health_status': 200}}},
        'bastion-b2': {'hpc_vllm_status_login': {'8020': {'listeners': [listener()], 'health_status': 200}}},
        'laptop': {'hpc_vllm_status_local': {
            'a': {'listeners': [listener()], 'health_status': 200, 'completion_status': 200, 'completion_json': REPLY},
            'b': {'listeners': [listener()], 'health_status': 200, 'completion_status': 200, 'completion_json': REPLY},
        }},
    }
    return records, hostvars


def report(records, hostvars, names=('a', 'b')):
    return status_report(list(names), records, hostvars, 'laptop', INVENTORY)


def states(result, name):
    row = next(row for row in result['rows'] if row['deployment'] == name)
    return [row['hops'][hop]['state'] for hop in HOPS]


def test_healthy_lab_is_all_ok(healthy):
    result = report(*healthy)
    assert not result['broken']
    assert states(result, 'a') == states(result, 'b') == ['ok'] * 4
    assert [row['first_broken'] for row in result['rows']] == [None, None]
    assert result['table'][0].split() == ['deployment', 'vLLM', 'on', 'compute', 'login', 'node', 'listener', 'local',
                                          'endpoint', 'completion']
    assert result['table'][1].split() == ['a', 'ok', 'ok', 'ok', 'ok']


def test_vllm_down_is_the_first_broken_hop(healthy):
    records, hostvars = healthy
    hostvars['compute-a']['hpc_vllm_status_vllm'] = {'ok': False, 'msg': 'GET http://127.0.0.1:8000/health failed'}
    hostvars['bastion-a']['hpc_vllm_status_login']['8020']['health_status'] = 502
    hostvars['laptop']['hpc_vllm_status_local']['a'].update(health_status=502, completion_status=502, completion_json=None)
    result = report(records, hostvars)
    assert result['broken']
    assert states(result, 'a') == ['broken'] * 4
    assert states(result, 'b') == ['ok'] * 4
    row = result['rows'][0]
    assert row['first_broken'] == 'vllm'
    assert 'vLLM on compute-a does not answer' in row['cause']
    assert row['fix'] == 'ansible-playbook hpc.vllm.deploy -i /inv/hosts.yml --limit compute-a,bastion-a,laptop'
    assert 'a: first broken hop: vLLM on compute' in result['table']


def test_unreachable_compute_node_says_so(healthy):
    records, hostvars = healthy
    del hostvars['compute-a']['hpc_vllm_status_vllm']
    row = report(records, hostvars)['rows'][0]
    assert row['first_broken'] == 'vllm'
    assert 'cannot reach compute-a' in row['cause']
    assert row['fix'] == 'ansible compute-a -i /inv/hosts.yml -m ansible.builtin.ping'


def test_missing_listener_blames_the_reverse_tunnel(healthy):
    records, hostvars = healthy
    hostvars['bastion-a']['hpc_vllm_status_login']['8020'] = {'listeners': [], 'health_status': -1}
    hostvars['laptop']['hpc_vllm_status_local']['a'].update(health_status=-1, completion_status=-1)
    result = report(records, hostvars)
    assert states(result, 'a') == ['ok', 'broken', 'broken', 'broken']
    row = result['rows'][0]
    assert row['first_broken'] == 'login_node'
    assert 'reverse tunnel from compute-a does not reach bastion-a' in row['cause']
    assert 'no listener on 127.0.0.1:8020' in row['cause']


def test_one_of_two_login_nodes_missing_is_degraded_not_broken(healthy):
    records, hostvars = healthy
    hostvars['bastion-b1']['hpc_vllm_status_login']['8020'] = {'listeners': [], 'health_status': -1}
    result = report(records, hostvars)
    assert states(result, 'b') == ['ok', 'degraded', 'ok', 'ok']
    assert not result['broken']
    assert result['rows'][1]['first_broken'] == 'login_node'


def test_another_users_listener_is_named(healthy):
    records, hostvars = healthy
    hostvars['bastion-a']['hpc_vllm_status_login']['8020'] = {
        'listeners': [listener(ours=False, user='mallory')], 'health_status': 200}
    row = report(records, hostvars)['rows'][0]
    assert row['hops']['login_node']['state'] == 'broken'
    assert 'taken by mallory' in row['hops']['login_node']['detail']


def test_unreachable_login_node_is_broken(healthy):
    records, hostvars = healthy
    del hostvars['bastion-a']['hpc_vllm_status_login']
    row = report(records, hostvars)['rows'][0]
    assert row['hops']['login_node'] == dict(row['hops']['login_node'], state='broken', detail='bastion-a: unreachable')


def test_dead_forward_tunnel_blames_the_laptop(healthy):
    records, hostvars = healthy
    hostvars['laptop']['hpc_vllm_status_local']['a'] = {'listeners': [], 'health_status': -1, 'completion_status': -1}
    row = report(records, hostvars)['rows'][0]
    assert [row['hops'][hop]['state'] for hop in HOPS] == ['ok', 'ok', 'broken', 'broken']
    assert row['first_broken'] == 'local_port'
    assert 'forward tunnel (service hpc-vllm-forward-a) is not running' in row['cause']


def test_local_port_of_another_user(healthy):
    records, hostvars = healthy
    hostvars['laptop']['hpc_vllm_status_local']['a'] = {'listeners': [listener(False, 'eve')], 'health_status': 200,
                                                        'completion_status': 200, 'completion_json': REPLY}
    row = report(records, hostvars)['rows'][0]
    assert row['first_broken'] == 'local_port'
    assert row['fix'].startswith('choose another tunnel_local_port for compute-a')


@pytest.mark.parametrize('status, reply, words', [
    (401, None, 'refused the API key'),
    (404, None, 'does not serve the model tiny'),
    (500, None, 'completion through both hops failed'),
    (200, {'choices': []}, 'completion through both hops failed'),
])
def test_completion_failures(healthy, status, reply, words):
    records, hostvars = healthy
    hostvars['laptop']['hpc_vllm_status_local']['a'].update(completion_status=status, completion_json=reply)
    row = report(records, hostvars)['rows'][0]
    assert [row['hops'][hop]['state'] for hop in HOPS] == ['ok', 'ok', 'ok', 'broken']
    assert words in row['cause']


def test_deployment_without_record_is_not_deployed(healthy):
    records, hostvars = healthy
    result = report(records, hostvars, names=('a', 'c'))
    row = result['rows'][1]
    assert row['first_broken'] == 'vllm'
    assert 'deploy.yml never finished for c' in row['cause']
    assert result['broken']


def test_filter_module_lists_its_filters():
    from ansible_collections.hpc.vllm.plugins.filter.status import status_endpoints
    assert FilterModule().filters() == {'status_endpoints': status_endpoints, 'status_report': status_report}


def test_no_answer_is_said_in_words(healthy):
    records, hostvars = healthy
    hostvars['laptop']['hpc_vllm_status_local']['a'].update(
        health_status=-1, health_msg='Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>')
    row = report(records, hostvars)['rows'][0]
    assert row['hops']['local_port']['detail'] == '127.0.0.1:18000: /health: no answer (<urlopen error [Errno 111] Connection refused>)'


def test_status_endpoints_for_the_laptop_and_a_login_node():
    from ansible_collections.hpc.vllm.plugins.filter.status import status_endpoints
    records = {
        'a': {'local_port': 18000, 'remote_port': 8020, 'model': 'tiny', 'key_file': '/k/a.key', 'login_nodes': ['la']},
        'b': {'local_port': 18001, 'remote_port': 8020, 'model': 'tiny', 'key_file': None, 'login_nodes': ['lb1', 'lb2']},
        'c': {'local_port': 18002, 'remote_port': 8021, 'model': 'big', 'key_file': None, 'login_nodes': ['lb1']},
    }
    assert status_endpoints(records) == [{'port': 18000, 'model': 'tiny', 'key_file': '/k/a.key'},
                                         {'port': 18001, 'model': 'tiny'}, {'port': 18002, 'model': 'big'}]
    assert status_endpoints(records, 'lb1') == [{'port': 8020}, {'port': 8021}]
    assert status_endpoints(records, 'la') == [{'port': 8020}]
    assert status_endpoints(records, 'nobody') == []


def slurm_job(state, **extra):
    job = {'job_id': '42', 'state': state, 'reason': 'None', 'node': 'hpcv-slurm-c1', 'time_left': 7189,
           'expected_start': '', 'stopped': '', 'log': '/home/r/.hpc-vllm/slurm/a/job.log', 'log_tail': ''}
    job.update(extra)
    return job


@pytest.mark.parametrize('job, state, detail, cause', [
    (slurm_job('RUNNING'), 'ok', 'job 42 RUNNING on hpcv-slurm-c1, 01:59:49 left', None),
    (slurm_job('RUNNING', time_left=None), 'ok', 'job 42 RUNNING on hpcv-slurm-c1, no limit left', None),
    (slurm_job('PENDING', reason='PartitionDown', node='', expected_start='N/A'), 'broken',
     'job 42 PENDING (PartitionDown), expected start N/A', 'the Slurm job of compute-a waits in the queue: PartitionDown'),
    (slurm_job('CANCELLED', time_left=None, log_tail='x\n2026 hpc-vllm job: stopping: TERM'), 'broken', 'job 42 CANCELLED',
     'the Slurm job of compute-a ended: CANCELLED; the last line of /home/r/.hpc-vllm/slurm/a/job.log: '
     '2026 hpc-vllm job: stopping: TERM'),
    (slurm_job('TIMEOUT', time_left=None, stopped='the time limit is 120 s away (USR1)'), 'broken',
     'job 42 TIMEOUT, after the job stopped: the time limit is 120 s away (USR1)',
     'the Slurm job of compute-a ended: TIMEOUT, after the job stopped: the time limit is 120 s away (USR1)'),
    (slurm_job('NODE_FAIL', reason='NodeDown', time_left=None), 'broken', 'job 42 NODE_FAIL (NodeDown)',
     'the Slurm job of compute-a ended: NODE_FAIL (NodeDown)'),
    (slurm_job('PENDING', reason='BeginTime', restarts=1, expected_start='2026-12-02T14:09:18'), 'broken',
     'job 42 (requeued 1 time by Slurm) PENDING (BeginTime), expected start 2026-12-02T14:09:18',
     'the Slurm job of compute-a waits in the queue: BeginTime'),
    ({'job_id': '', 'state': 'NONE'}, 'broken', 'no Slurm job',
     'no job serves compute-a: deploy.yml never submitted one, or teardown ran'),
])
def test_a_slurm_deployments_first_hop_is_its_job(healthy, job, state, detail, cause):
    records, hostvars = healthy
    hostvars['compute-a'] = {'vllm_launcher': 'slurm', 'hpc_vllm_status_job': job}
    row = report(records, hostvars)['rows'][0]
    assert (row['hops']['vllm']['state'], row['hops']['vllm']['detail'], row['cause']) == (state, detail, cause)
    if state != 'ok':
        assert row['first_broken'] == 'vllm'
