# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input to ``hpc.vllm.deploy`` stops the run before any host is touched, with a message that names
the variable and what is allowed.

The real playbook runs against an inventory whose compute and login nodes are addresses nobody answers
(TEST-NET-1): a check that needed the node would show up as "unreachable" instead of its message, and no
host can have been changed. The control case (good input) passes every check and meets the first
unreachable host only at the first task that connects.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest
import yaml

GOOD = {
    'vllm_model': '/scratch/models/tiny',
    'vllm_device': 'cpu',
    'vllm_install_method': 'wheelhouse',
    'vllm_wheelhouse': 'WHEELHOUSE',
    'vllm_api_key': 'not-a-real-key-but-long-enough',
}

# compute-a as a Slurm deployment (its ansible_host stands for the login node)
SLURM = {'vllm_launcher': 'slurm', 'slurm_partition': 'gpu', 'slurm_time': '02:00:00'}

# (case, extra vars for compute-a, words the failure must contain)
CASES = [
    ('port 0', {'vllm_port': 0}, ['vllm_port', 'from 1 to 65535']),
    ('port 70000', {'vllm_port': 70000}, ['vllm_port', 'from 1 to 65535']),
    ('port not a number', {'vllm_port': 'http'}, ['vllm_port', 'int']),
    ('gpu memory 0', {'vllm_gpu_memory_utilization': 0}, ['vllm_gpu_memory_utilization', '(0, 1]']),
    ('gpu memory 1.5', {'vllm_gpu_memory_utilization': 1.5}, ['vllm_gpu_memory_utilization', '(0, 1]']),
    ('tensor parallel 0', {'vllm_tensor_parallel_size': 0}, ['vllm_tensor_parallel_size', '1 or more']),
    ('empty model', {'vllm_model': ''}, ['vllm_model', 'required']),
    ('unknown supervisor', {'vllm_supervisor': 'slurm'}, ['vllm_supervisor', 'auto, systemd, systemd_user, standalone']),
    ('unknown device', {'vllm_device': 'tpu'}, ['vllm_device', 'one of']),
    ('unknown dtype', {'vllm_dtype': 'float8'}, ['vllm_dtype', 'one of']),
    ('unknown install method', {'vllm_install_method': 'conda'}, ['vllm_install_method', 'index, wheelhouse, existing']),
    ('wheelhouse missing on the controller', {'vllm_wheelhouse': '/nonexistent/wheels'},
     ['vllm_wheelhouse=/nonexistent/wheels', 'not a directory on the controller']),
    ('wheelhouse method without wheelhouse', {'vllm_wheelhouse': ''}, ['vllm_wheelhouse', 'directory of wheels']),
    ('public bind without opt-in', {'vllm_host': '0.0.0.0'}, ['vllm_host=0.0.0.0', 'vllm_host_allow_nonlocal: true']),
    ('model source without a node path', {'vllm_model_src': '/tmp', 'vllm_model': 'Qwen/Qwen2.5-7B'},
     ['vllm_model_src', 'absolute path on the node']),
    ('model source that is no model', {'vllm_model_src': '/', 'vllm_model': '/scratch/models/x'},
     ['vllm_model_src=/', 'config.json']),
    ('max model len 0', {'vllm_max_model_len': 0}, ['vllm_max_model_len', '1 or more']),
    ('log format', {'vllm_log_format': 'xml'}, ['vllm_log_format', 'json, text']),
    ('log rotation off', {'vllm_log_max_bytes': 0}, ['vllm_log_max_bytes', '1 or more']),
    ('api key on the command line', {'vllm_extra_args': ['--api-key=abc']}, ['vllm_extra_args', '--api-key', 'vllm_api_key']),
    ('bastion entry without host', {'tunnel_bastions': [{'port': 22}]}, ['tunnel_bastions', 'host']),
    ('bastion entry that is a list', {'tunnel_bastions': [['login-a']]}, ['tunnel_bastions', '{host: NAME, port: 22']),
    ('bastion ssh port 0', {'tunnel_bastions': [{'host': 'login-a', 'port': 0}]}, ['tunnel_bastions', 'from 1 to 65535']),
    ('no bastion', {'tunnel_bastions': []}, ['tunnel_bastions']),
    ('remote port 70000', {'tunnel_remote_port': 70000}, ['tunnel_remote_port', '65535']),
    ('local port 0', {'tunnel_local_port': 0}, ['tunnel_local_port', '65535']),
    ('two deployments on one local port', {'tunnel_local_port': 18001},
     ['tunnel_local_port 18001 is set for compute-a and compute-b']),
    ('unknown autossh choice', {'reverse_tunnel_autossh': 'sometimes'}, ['reverse_tunnel_autossh', 'auto, required, never']),
    # the argument spec would accept these, converted, and the role would fail later in a template
    ('a string for extra args', {'vllm_extra_args': '--enforce-eager'}, ['vllm_extra_args must be a list', 'str']),
    ('a string for pip args', {'vllm_pip_extra_args': '--pre'}, ['vllm_pip_extra_args must be a list']),
    ('a string for the environment', {'vllm_environment': 'A=1'}, ['vllm_environment must be a dict']),
    ('a line break in the environment', {'vllm_environment': {'NOTE': 'a\nb'}},
     ['vllm_environment has values with a line break', 'NOTE', 'values not shown']),
    ('no variable name in the environment', {'vllm_environment': {'MY-VAR': '1'}},
     ['vllm_environment has names that are no environment variable names: MY-VAR']),
    ('a line break in the API key', {'vllm_api_key': 'abc\ndef'}, ['vllm_api_key holds a line break']),
    # a Slurm deployment: what needs no cluster is refused before any host, the login node included
    ('unknown launcher', {'vllm_launcher': 'pbs'}, ['vllm_launcher', 'service, slurm']),
    ('slurm time format', dict(SLURM, slurm_time='2h'), ["slurm_time: '2h' is no Slurm time limit", 'HH:MM:SS']),
    ('slurm time zero', dict(SLURM, slurm_time='0'), ['slurm_time', 'a time limit of 0 seconds']),
    ('slurm no GPU for vLLM on GPUs', dict(SLURM, vllm_device='gpu', slurm_gpus=0), ['slurm_gpus is 0', 'vllm_device is gpu']),
    ('slurm fewer GPUs than ranks', dict(SLURM, vllm_device='gpu', slurm_gpus=1, vllm_tensor_parallel_size=2),
     ['slurm_gpus is 1, fewer than vllm_tensor_parallel_size 2']),
    ('slurm unknown option', dict(SLURM, slurm_extra_options=['--frobnicate=1']),
     ['slurm_extra_options[0]: sbatch has no option --frobnicate']),
    ('slurm option the job sets', dict(SLURM, slurm_extra_options=['--output=/tmp/x']),
     ['slurm_extra_options[0]: --output is set by']),
    ('slurm short option', dict(SLURM, slurm_extra_options=['-p gpu']), ['slurm_extra_options[0] must be one long option']),
    ('slurm signal after the limit', dict(SLURM, slurm_time='5', slurm_stop_signal_seconds=600),
     ['slurm_stop_signal_seconds (600) is not below slurm_time']),
    ('slurm GPU option', dict(SLURM, slurm_gpus_option='tres'), ['slurm_gpus_option', 'gres, gpus']),
    ('slurm pending action', dict(SLURM, slurm_pending_timeout_action='wait'), ['slurm_pending_timeout_action', 'cancel, keep']),
]


def inventory(wheelhouse, compute_a_vars):
    unreachable = {'ansible_host': '192.0.2.1', 'ansible_user': 'nobody'}
    compute = dict(GOOD, vllm_wheelhouse=wheelhouse)
    return {'all': {'children': {
        'bastions': {'hosts': {'login-a': dict(unreachable), 'login-b': dict(unreachable, ansible_host='192.0.2.2')}},
        'compute': {'hosts': {
            'compute-a': dict(unreachable, ansible_host='192.0.2.3', tunnel_bastions=[{'host': 'login-a'}],
                              tunnel_local_port=18000, **compute_a_vars),
            'compute-b': dict(unreachable, ansible_host='192.0.2.4', tunnel_bastions=[{'host': 'login-b'}],
                              tunnel_local_port=18001),
        }, 'vars': compute},
    }}}


def run_deploy(tmp_path, real_ansible, compute_a_vars):
    ansible_playbook, collections = real_ansible
    wheelhouse = tmp_path / 'wheelhouse'
    wheelhouse.mkdir()
    inv = inventory(str(wheelhouse), {})
    # compute-a's own vars override the group's (vllm_wheelhouse, vllm_model, ...)
    inv['all']['children']['compute']['hosts']['compute-a'].update(compute_a_vars)
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inv))
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('ANSIBLE_'))
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json', ANSIBLE_TIMEOUT='3',
               ANSIBLE_HOST_KEY_CHECKING='0', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_RETRY_FILES_ENABLED='0')
    proc = subprocess.run([ansible_playbook, '-i', 'inventory.yml', 'hpc.vllm.deploy'], cwd=str(tmp_path), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, check=False)
    out = proc.stdout.decode('utf-8', 'replace')
    try:
        report = json.loads(out[out.index('{'):])
    except ValueError:
        pytest.fail('no JSON report from ansible-playbook:\n%s\n%s' % (out, proc.stderr.decode('utf-8', 'replace')))
    return proc.returncode, report


def results(report):
    """(play, task, host, result) of every task result, loop items included."""
    for play in report['plays']:
        for task in play['tasks']:
            for host, result in task['hosts'].items():
                yield play['play']['name'], task['task']['name'], host, result
                for item in result.get('results') or []:
                    if isinstance(item, dict):
                        yield play['play']['name'], task['task']['name'], host, item


def failures(report):
    return [(task, host, result.get('msg', '')) for dummy, task, host, result in results(report)
            if result.get('failed')]


@pytest.mark.parametrize('case, compute_a_vars, words', CASES, ids=[case[0] for case in CASES])
def test_bad_input_fails_before_any_host_is_touched(tmp_path, real_ansible, case, compute_a_vars, words):
    rc, report = run_deploy(tmp_path, real_ansible, compute_a_vars)
    assert rc != 0
    messages = [msg for dummy, dummy2, msg in failures(report)]
    assert any(all(word in msg for word in words) for msg in messages), messages
    # nothing connected to any node: not one unreachable, not one change, anywhere
    assert all(stats['unreachable'] == 0 and stats['changed'] == 0 for stats in report['stats'].values()), report['stats']
    assert not any(result.get('unreachable') for dummy, dummy2, dummy3, result in results(report))


def test_good_input_passes_every_check_and_connects_only_after(tmp_path, real_ansible):
    rc, report = run_deploy(tmp_path, real_ansible, {})
    assert rc != 0  # the nodes do not exist
    # every check passed; only the compute nodes' silence fails the run (the login nodes' is set aside)
    assert {(task, host) for task, host, msg in failures(report)} == {
        ('Fail when a compute node or the laptop does not answer', 'compute-a'),
        ('Fail when a compute node or the laptop does not answer', 'compute-b')}, failures(report)
    degraded = {host for dummy, task, host, result in results(report)
                if task == 'Say that a login node is left out of this run' and 'DEGRADED' in result.get('msg', '')}
    assert degraded == {'login-a', 'login-b'}
    plays = [play['play']['name'] for play in report['plays']]
    assert plays[:3] == ['Check every deployment before any host changes',
                         "Check every deployment's variables before any host changes",
                         'Report every node before changing it']
    unreachable = {(p, task) for p, task, host, result in results(report) if result.get('unreachable')}
    assert unreachable == {('Report every node before changing it', "Collect the node's diagnostics")}


def test_local_port_of_another_user_fails_before_any_host_is_touched(tmp_path, real_ansible):
    """Another account listens on compute-a's local port on the laptop (here: this host, as nobody)."""
    if os.geteuid() != 0:
        pytest.skip('needs root to listen as another user')
    listener = subprocess.Popen(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', sys.executable, '-c',
                                 'import socket, sys, time\n'
                                 's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()\n'
                                 'print(s.getsockname()[1], flush=True); time.sleep(300)\n'],
                                stdout=subprocess.PIPE)
    try:
        port = int(listener.stdout.readline())
        rc, report = run_deploy(tmp_path, real_ansible, {'tunnel_local_port': port})
    finally:
        listener.kill()
        listener.wait()
    assert rc != 0
    messages = [msg for dummy, dummy2, msg in failures(report)]
    assert any('tunnel_local_port %d is taken' % port in msg and 'nobody' in msg for msg in messages), messages
    assert all(stats['unreachable'] == 0 and stats['changed'] == 0 for stats in report['stats'].values())
