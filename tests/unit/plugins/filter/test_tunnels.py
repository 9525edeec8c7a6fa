# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.hpc.vllm.plugins.filter.tunnels import (
    DEFAULTS,
    TUNNEL_HOLD_COMMAND,
    FilterModule,
    bastion_port_problems,
    bastion_tunnel_keys,
    endpoint_records,
    forward_tunnel_deployments,
    tunnel_api_keys,
    tunnel_conflicts,
    tunnel_deployments,
    tunnel_known_hosts,
    tunnel_login_nodes,
    tunnel_plans,
    tunnel_slug,
    tunnel_ssh_options,
    tunnel_targets,
    tunnel_unanswered,
)

ROLES = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles')

B1_KEY = 'ssh-ed25519 AAAAB1'
B2_KEY = 'ssh-ed25519 AAAAB2'
A_KEY = 'ssh-ed25519 AAAAA'


def bastion(addresses, keys):
    return {'ansible_facts': {'all_ipv4_addresses': addresses, 'all_ipv6_addresses': []}, 'bastion_host_keys': keys}


def plan(name, host, addresses, remote_port=8020, public_key='ssh-ed25519 AAAAREV hpc-vllm:x:reverse'):
    return {'name': name, 'remote_port': remote_port, 'public_key': public_key,
            'bastions': [{'host': host, 'port': 22, 'user': 'researcher', 'reachable': any(addresses.values()),
                          'addresses': [{'address': a, 'reachable': ok} for a, ok in addresses.items()]}]}


@pytest.fixture
def hostvars():
    return {
        'bastion-a': bastion(['10.0.0.10', '10.1.0.10'], [A_KEY]),
        'bastion-b1': bastion(['10.0.0.21', '10.2.0.21'], [B1_KEY, 'ssh-rsa AAAARSA1']),
        'bastion-b2': bastion(['10.0.0.22', '10.2.0.22'], [B2_KEY]),
        'compute-a': {'hpc_vllm_tunnel': plan('compute-a', 'bastion-a', {'10.1.0.10': True}),
                      'vllm_server_endpoint': {'model': 'tiny'}, 'vllm_api_key': 'secret-a',
                      'tunnel_bastions': [{'host': 'bastion-a'}]},
        'compute-b': {'hpc_vllm_tunnel': plan('compute-b', 'login-b', {'10.2.0.21': True, '10.2.0.22': True}, 8021),
                      'vllm_server_endpoint': {'model': 'tiny'}, 'tunnel_local_port': 18001,
                      'tunnel_bastions': [{'host': 'login-b'}]},
    }


BASTIONS = ['bastion-a', 'bastion-b1', 'bastion-b2']


@pytest.mark.parametrize('value, expected', [
    ('gpu-a017.cluster-a.example.org', 'gpu-a017-cluster-a-example-org'),
    ('Compute_B', 'compute_b'),
    ('10.2.0.21', '10-2-0-21'),
    ('--x--', 'x'),
])
def test_tunnel_slug(value, expected):
    assert tunnel_slug(value) == expected


def test_tunnel_slug_refuses_a_name_without_letters():
    with pytest.raises(AnsibleFilterError, match="leaves no letter"):
        tunnel_slug('...')


def test_defaults_match_the_roles():
    """The plays read these defaults for hosts whose inventory sets nothing: they must be the roles' own."""
    with open(os.path.join(ROLES, 'reverse_tunnel', 'defaults', 'main.yml')) as handle:
        reverse = yaml.safe_load(handle)
    with open(os.path.join(ROLES, 'vllm_server', 'defaults', 'main.yml')) as handle:
        server = yaml.safe_load(handle)
    assert DEFAULTS['tunnel_remote_port'] == reverse['tunnel_remote_port']
    assert DEFAULTS['vllm_port'] == reverse['vllm_port'] == server['vllm_port']
    # tunnel_local_port is the laptop's (README.md: 18000), documented and validated with the compute node's
    assert DEFAULTS['tunnel_local_port'] == reverse['tunnel_local_port'] == 18000


def test_deployments_apply_defaults_and_names(hostvars):
    hostvars['gpu.Example.org'] = {'tunnel_bastions': [{'host': 'login'}]}
    found = tunnel_deployments(['compute-b', 'gpu.Example.org'], hostvars)
    assert [(d['name'], d['local_port'], d['remote_port'], d['bastions']) for d in found] == [
        ('compute-b', 18001, 8020, ['login-b']), ('gpu-example-org', 18000, 8020, ['login'])]


CONFLICTS = [
    # id, hostvars of two hosts, expected fragments (empty: no error)
    ('fine', [{'tunnel_local_port': 18000, 'tunnel_bastions': [{'host': 'l1'}]},
              {'tunnel_local_port': 18001, 'tunnel_bastions': [{'host': 'l2'}]}], []),
    ('same_local_port', [{'tunnel_bastions': [{'host': 'l1'}]}, {'tunnel_bastions': [{'host': 'l2'}]}],
     ['tunnel_local_port 18000 is set for h1 and h2']),
    ('same_remote_port_same_login', [{'tunnel_local_port': 1, 'tunnel_bastions': [{'host': 'l1'}]},
                                     {'tunnel_local_port': 2, 'tunnel_bastions': [{'host': 'l1'}]}],
     ['tunnel_remote_port 8020 on login node l1 is set for h1 and h2']),
    ('same_remote_port_other_login', [{'tunnel_local_port': 1, 'tunnel_bastions': [{'host': 'l1'}]},
                                      {'tunnel_local_port': 2, 'tunnel_bastions': [{'host': 'l2'}]}], []),
    ('same_name', [{'tunnel_local_port': 1, 'tunnel_name': 'x', 'tunnel_bastions': [{'host': 'l1'}]},
                   {'tunnel_local_port': 2, 'tunnel_name': 'X', 'tunnel_remote_port': 9, 'tunnel_bastions': [{'host': 'l1'}]}],
     ["tunnel_name 'x' names h1 and h2"]),
    ('bad_port', [{'tunnel_local_port': 70000, 'tunnel_bastions': [{'host': 'l1'}]},
                  {'tunnel_local_port': 'x', 'tunnel_remote_port': True, 'tunnel_bastions': [{'host': 'l2'}]}],
     ['h1: tunnel_local_port must be an integer from 1 to 65535, got 70000',
      "h2: tunnel_local_port must be an integer from 1 to 65535, got 'x'",
      'h2: tunnel_remote_port must be an integer from 1 to 65535, got True']),
    ('no_bastions', [{'tunnel_local_port': 1}, {'tunnel_local_port': 2, 'tunnel_bastions': [{'port': 22}]}],
     ['h1: tunnel_bastions must list at least one login node', 'h2: tunnel_bastions must list']),
]


@pytest.mark.parametrize('vars_, expected', [case[1:] for case in CONFLICTS], ids=[case[0] for case in CONFLICTS])
def test_conflicts(vars_, expected):
    errors = tunnel_conflicts(tunnel_deployments(['h1', 'h2'], {'h1': vars_[0], 'h2': vars_[1]}))
    assert len(errors) == len(expected), errors
    for fragment in expected:
        assert any(fragment in error for error in errors), (fragment, errors)


def test_login_nodes_by_address(hostvars):
    assert tunnel_login_nodes(['10.2.0.22'], BASTIONS, hostvars) == ['bastion-b2']
    assert tunnel_login_nodes(['10.2.0.21', '10.2.0.22'], BASTIONS, hostvars) == ['bastion-b1', 'bastion-b2']
    assert tunnel_login_nodes('10.0.0.10', BASTIONS, hostvars) == ['bastion-a']
    assert tunnel_login_nodes(['192.0.2.1'], BASTIONS, hostvars) == []


def test_targets_one_per_reachable_address(hostvars):
    tunnel = plan('compute-b', 'login-b', {'10.2.0.21': True, '10.2.0.22': False, '10.2.0.23': True})
    tunnel['bastions'].append(dict(tunnel['bastions'][0], host='login-b-again'))  # same addresses twice
    targets = tunnel_targets(tunnel, 'hpc-vllm-reverse-compute-b-', BASTIONS, hostvars)
    assert [(t['address'], t['service'], t['login_nodes']) for t in targets] == [
        ('10.2.0.21', 'hpc-vllm-reverse-compute-b-10-2-0-21', ['bastion-b1']),
        ('10.2.0.23', 'hpc-vllm-reverse-compute-b-10-2-0-23', []),
    ]
    assert 'addresses' not in targets[0]['bastion'] and targets[0]['bastion']['host'] == 'login-b'


def test_targets_by_name_one_per_entry_to_its_name(hostvars):
    """A Slurm job's tunnels: the plan was probed from the login node (which reaches itself on every
    address); the job's node resolves the name."""
    tunnel = plan('slurm', 'login-b.internal', {'10.0.0.21': True, '10.2.0.21': True})
    tunnel['bastions'].append(dict(tunnel['bastions'][0]))  # the same entry twice
    unreached = plan('slurm', 'login-x', {'10.9.0.1': False})['bastions'][0]
    tunnel['bastions'].append(unreached)
    targets = tunnel_targets(tunnel, 'hpc-vllm-reverse-slurm-', BASTIONS, hostvars, by_name=True)
    assert [(t['address'], t['service'], t['login_nodes']) for t in targets] == [
        ('login-b.internal', 'hpc-vllm-reverse-slurm-login-b-internal', ['bastion-b1'])]
    unanswered = tunnel_unanswered(tunnel, 'hpc-vllm-reverse-slurm-', BASTIONS, hostvars, by_name=True)
    assert [entry['address'] for entry in unanswered] == ['10.9.0.1']


def test_known_hosts_pins_every_node_behind_a_name(hostvars):
    lines = tunnel_known_hosts(hostvars['compute-b']['hpc_vllm_tunnel'], BASTIONS, hostvars)
    assert lines == ['login-b ssh-ed25519 AAAAB1', 'login-b ssh-rsa AAAARSA1', 'login-b ssh-ed25519 AAAAB2']
    # a node the compute node did not reach is not trusted under that name
    only_b1 = plan('compute-b', 'login-b', {'10.2.0.21': True, '10.2.0.22': False})
    assert tunnel_known_hosts(only_b1, BASTIONS, hostvars) == ['login-b ssh-ed25519 AAAAB1', 'login-b ssh-rsa AAAARSA1']


def test_bastion_keys_only_for_the_deployments_that_land_there(hostvars):
    plans = tunnel_plans(['compute-a', 'compute-b', 'bastion-a'], hostvars)
    forward = {'compute-a': 'ssh-ed25519 AAAAFWDA', 'compute-b': 'ssh-ed25519 AAAAFWDB'}
    keys_b2 = bastion_tunnel_keys(plans, 'bastion-b2', hostvars, forward)
    assert [(k['name'], k['direction'], k['port'], k['public_key']) for k in keys_b2] == [
        ('compute-b', 'reverse', 8021, plans[1]['public_key']), ('compute-b', 'forward', 8021, 'ssh-ed25519 AAAAFWDB')]
    keys_a = bastion_tunnel_keys(plans, 'bastion-a', hostvars, forward)
    assert [k['name'] for k in keys_a] == ['compute-a', 'compute-a']
    # keys not made yet (check mode on a new node) are left out
    assert bastion_tunnel_keys(plans, 'bastion-a', hostvars, {}) == [keys_a[0]]


def test_forward_deployments_and_api_keys(hostvars):
    hostvars['compute-c'] = {'tunnel_bastions': [{'host': 'x'}]}  # did not run: no plan
    found = forward_tunnel_deployments(['compute-a', 'compute-b', 'compute-c'], hostvars, BASTIONS)
    assert [(d['name'], d['local_port'], d['remote_port'], d['model']) for d in found] == [
        ('compute-a', 18000, 8020, 'tiny'), ('compute-b', 18001, 8021, 'tiny')]
    assert found[1]['bastions'] == [{'host': 'login-b', 'port': 22, 'user': 'researcher'}]
    assert found[1]['known_hosts'][0] == 'login-b ssh-ed25519 AAAAB1'
    assert tunnel_api_keys(['compute-a', 'compute-b', 'compute-c'], hostvars) == {'compute-a': 'secret-a'}


def test_ssh_options_fail_loudly_and_trust_nothing_new():
    options = tunnel_ssh_options('/k/known_hosts', '5', 3, 10)
    for option in ('ExitOnForwardFailure=yes', 'ServerAliveInterval=5', 'ServerAliveCountMax=3', 'BatchMode=yes',
                   'IdentitiesOnly=yes', 'ConnectTimeout=10', 'StrictHostKeyChecking=yes',
                   'UserKnownHostsFile=/k/known_hosts', 'GlobalKnownHostsFile=/dev/null', 'ControlPath=none'):
        assert option in options
    assert not any(option.startswith('HostKeyAlias=') for option in options), 'added per login node by the caller'
    assert 'RemoteCommand=%s' % TUNNEL_HOLD_COMMAND in options, 'the session that gets the connection TCP_NODELAY'


def test_reverse_tunnels_leave_exit_on_forward_failure_to_the_login_node():
    assert 'ExitOnForwardFailure=no' in tunnel_ssh_options('/k/known_hosts', 5, 3, 10, exit_on_forward_failure=False)
    assert 'ExitOnForwardFailure=yes' in tunnel_ssh_options('/k/known_hosts', 5, 3, 10)


def test_filter_module_lists_every_filter():
    assert sorted(FilterModule().filters()) == sorted([
        'tunnel_slug', 'tunnel_ssh_options', 'tunnel_deployments', 'tunnel_conflicts', 'tunnel_login_nodes', 'tunnel_targets',
        'tunnel_unanswered',
        'tunnel_known_hosts', 'bastion_tunnel_keys', 'bastion_port_problems', 'tunnel_plans', 'forward_tunnel_deployments', 'tunnel_api_keys',
        'endpoint_records'])


def test_endpoint_records_name_every_hop(hostvars):
    hostvars['compute-b']['vllm_server_endpoint']['port'] = 8001
    records = endpoint_records(['compute-a', 'compute-b'], hostvars, ['bastion-a', 'bastion-b1', 'bastion-b2'])
    assert records == [
        {'name': 'compute-a', 'base_url': 'http://127.0.0.1:18000/v1', 'local_port': 18000, 'model': 'tiny',
         'compute_host': 'compute-a', 'vllm_port': 8000, 'remote_port': 8020, 'bastions': ['bastion-a'],
         'login_nodes': ['bastion-a']},
        {'name': 'compute-b', 'base_url': 'http://127.0.0.1:18001/v1', 'local_port': 18001, 'model': 'tiny',
         'compute_host': 'compute-b', 'vllm_port': 8001, 'remote_port': 8021, 'bastions': ['login-b'],
         'login_nodes': ['bastion-b1', 'bastion-b2']},
    ]


def test_endpoint_records_leave_out_unreached_login_nodes_and_unplanned_hosts(hostvars):
    hostvars['compute-b']['hpc_vllm_tunnel'] = plan('compute-b', 'login-b', {'10.2.0.21': True, '10.2.0.22': False}, 8021)
    hostvars['compute-c'] = {'vllm_server_endpoint': {'model': 'tiny'}}
    records = endpoint_records(['compute-b', 'compute-c'], hostvars, ['bastion-a', 'bastion-b1', 'bastion-b2'])
    assert [(record['name'], record['login_nodes']) for record in records] == [('compute-b', ['bastion-b1'])]


def _keys(*entries):
    return [{'name': name, 'direction': direction, 'port': port, 'public_key': 'ssh-ed25519 AAAA' + name}
            for name, direction, port in entries]


def _listeners(ports, uid=1500, start=1024):
    return {'uid': uid, 'unprivileged_port_start': start,
            'ports': dict((str(port), entries) for port, entries in ports.items())}


def test_port_problems_name_the_other_user_and_the_deployment():
    keys = _keys(('cluster_a', 'reverse', 8020), ('cluster_a', 'forward', 8020), ('cluster_b', 'reverse', 8021))
    listeners = _listeners({
        8020: [{'address': '127.0.0.1', 'uid': 1501, 'user': 'mallory', 'ours': False},
               {'address': '::1', 'uid': 1502, 'user': 'eve', 'ours': False}],
        8021: [{'address': '127.0.0.1', 'uid': 1500, 'user': 'jdoe', 'ours': True}],  # our own tunnel: fine
    })
    assert bastion_port_problems(keys, listeners) == [
        {'name': 'cluster_a', 'port': 8020, 'privileged': False, 'taken_by': ['eve', 'mallory'],
         'addresses': ['127.0.0.1', '::1']}]


def test_port_problems_refuse_a_privileged_port_unless_root():
    keys = _keys(('cluster_a', 'reverse', 80), ('cluster_b', 'reverse', 1024))
    assert bastion_port_problems(keys, _listeners({80: [], 1024: []})) == [
        {'name': 'cluster_a', 'port': 80, 'privileged': True, 'taken_by': [], 'addresses': []}]
    assert bastion_port_problems(keys, _listeners({80: [], 1024: []}, uid=0)) == []
    # a site that lowered net.ipv4.ip_unprivileged_port_start
    assert bastion_port_problems(keys, _listeners({80: [], 1024: []}, start=80)) == []


def test_port_problems_ignore_forward_keys_and_free_ports():
    keys = _keys(('cluster_a', 'forward', 80), ('cluster_a', 'reverse', 8020))
    assert bastion_port_problems(keys, _listeners({80: [], 8020: []})) == []


PREFIX = 'hpc-vllm-reverse-compute-b-'


def without_facts(hostvars, host):
    """What a login node that did not answer looks like to the compute node's play: no facts, no keys."""
    hostvars[host] = {}
    return hostvars


def test_a_login_node_that_did_not_answer_keeps_its_tunnel_untouched(hostvars):
    """bastion-b1 is in maintenance: it did not answer Ansible. The compute node still reaches its address
    (or a stale route does); no other login node owns it, so no tunnel is configured there, and the one
    that is there is kept (not removed) and keeps trying."""
    hostvars = without_facts(hostvars, 'bastion-b1')
    tunnel = hostvars['compute-b']['hpc_vllm_tunnel']
    targets = tunnel_targets(tunnel, PREFIX, BASTIONS, hostvars, down=['bastion-b1'])
    assert [(t['address'], t['login_nodes']) for t in targets] == [('10.2.0.22', ['bastion-b2'])]
    assert tunnel_unanswered(tunnel, PREFIX, BASTIONS, hostvars, down=['bastion-b1']) == [
        {'bastion': {'host': 'login-b', 'port': 22, 'user': 'researcher', 'reachable': True}, 'address': '10.2.0.21',
         'service': PREFIX + '10-2-0-21', 'reached': True}]


def test_an_address_the_compute_node_does_not_reach_is_unanswered(hostvars):
    tunnel = plan('compute-b', 'login-b', {'10.2.0.21': False, '10.2.0.22': True})
    assert [t['address'] for t in tunnel_targets(tunnel, PREFIX, BASTIONS, hostvars)] == ['10.2.0.22']
    assert [(u['address'], u['reached']) for u in tunnel_unanswered(tunnel, PREFIX, BASTIONS, hostvars)] == [
        ('10.2.0.21', False)]


def test_without_a_login_node_down_an_unknown_address_stays_a_target_for_the_check(hostvars):
    """A reached address that no login node of the inventory owns is a mistake (a login node missing from
    the group): with every login node answering it stays a target, for start.yml's check to refuse."""
    tunnel = plan('compute-b', 'login-b', {'192.0.2.7': True})
    assert [(t['address'], t['login_nodes']) for t in tunnel_targets(tunnel, PREFIX, BASTIONS, hostvars)] == [
        ('192.0.2.7', [])]
    assert tunnel_unanswered(tunnel, PREFIX, BASTIONS, hostvars) == []


def test_known_hosts_keep_the_pinned_keys_of_a_login_node_that_did_not_answer(hostvars):
    before = '\n'.join(tunnel_known_hosts(hostvars['compute-b']['hpc_vllm_tunnel'], BASTIONS, hostvars)) + '\n'
    hostvars = without_facts(hostvars, 'bastion-b1')
    tunnel = hostvars['compute-b']['hpc_vllm_tunnel']
    unanswered = tunnel_unanswered(tunnel, PREFIX, BASTIONS, hostvars, down=['bastion-b1'])
    # without the earlier file, only b2's key could be pinned
    assert tunnel_known_hosts(tunnel, BASTIONS, hostvars) == ['login-b ssh-ed25519 AAAAB2']
    # with it, the file stays as it was, order included (a changed file would restart the working tunnel)
    assert '\n'.join(tunnel_known_hosts(tunnel, BASTIONS, hostvars, before, unanswered)) + '\n' == before
    # lines of entries whose login nodes all answered are never carried over (a changed host key is dropped)
    stale = before + 'bastion-a ssh-ed25519 AAAAOLD\n'
    assert 'bastion-a ssh-ed25519 AAAAOLD' not in tunnel_known_hosts(tunnel, BASTIONS, hostvars, stale, unanswered)
    assert tunnel_known_hosts(tunnel, BASTIONS, hostvars, before, []) == ['login-b ssh-ed25519 AAAAB2']


def test_forward_deployments_take_the_host_keys_the_compute_node_pinned(hostvars):
    hostvars['compute-b']['hpc_vllm_known_hosts'] = ['login-b ssh-ed25519 AAAAB2', 'login-b ssh-ed25519 AAAAB1']
    found = forward_tunnel_deployments(['compute-b'], hostvars, BASTIONS)
    assert found[0]['known_hosts'] == ['login-b ssh-ed25519 AAAAB2', 'login-b ssh-ed25519 AAAAB1']
