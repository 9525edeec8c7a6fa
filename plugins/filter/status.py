# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The verdict of ``playbooks/status.yml``: what each hop of each deployment answered, as one table,
and for the first broken hop its likely cause and the command that fixes it.

The plays only collect (facts ``hpc_vllm_status_*`` on the compute nodes, login nodes and the laptop);
every judgement is made here, in one place, where it is unit-tested hop by hop.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False

from ansible.errors import AnsibleFilterError

from ansible_collections.hpc.vllm.plugins.module_utils._slurm import format_seconds, is_running, is_waiting

HOPS = ('vllm', 'login_node', 'local_port', 'completion')
HOP_TITLES = {
    'vllm': 'vLLM on compute',
    'login_node': 'login node listener',
    'local_port': 'local endpoint',
    'completion': 'completion',
}
OK = 'ok'
DEGRADED = 'degraded'
BROKEN = 'broken'

# What an OpenAI reply must hold for the last hop to count as working; jmespath says it in one line
# where nested .get() calls would hide it.
_COMPLETION_CHECK = 'choices[0].finish_reason'


def _search(expression, data):
    if not HAS_JMESPATH:
        raise AnsibleFilterError('hpc.vllm.status_report needs the Python library jmespath on the controller '
                                 '(pip install jmespath)')
    return jmespath.search(expression, data)


def _http(status, msg=None):
    """An HTTP status as the table shows it; the plays record -1 when no answer came."""
    if status in (None, -1, 0):
        # uri's message repeats the status before the reason: keep the reason.
        return 'no answer' + (' (%s)' % msg.split('Request failed: ')[-1] if msg else '')
    return 'HTTP %s' % status


def _hop(state, detail, cause=None, fix=None):
    return {'state': state, 'detail': detail, 'cause': cause, 'fix': fix}


def _vllm_hop(record, compute):
    host, port = record['compute_host'], record['vllm_port']
    status = compute.get('hpc_vllm_status_vllm')
    if status is None:
        return _hop(BROKEN, '%s unreachable' % host,
                    'Ansible cannot reach %s (through its login node): the node, its job or sshd is gone.' % host,
                    'ansible %s {inventory} -m ansible.builtin.ping' % host)
    if status.get('ok'):
        return _hop(OK, '%s:%s serves %s' % (host, port, record['model']))
    return _hop(BROKEN, '%s:%s does not answer' % (host, port),
                'vLLM on %s does not answer on 127.0.0.1:%s (stopped, crashed or still loading): %s'
                % (host, port, status.get('msg') or 'no detail'),
                '{deploy}')


def _job_hop(record, job):
    """A Slurm deployment's first hop: its job, as the login node's slurm_job_info said it."""
    host = record['compute_host']
    if job is None:
        return _hop(BROKEN, '%s unreachable' % host,
                    'Ansible cannot reach the login node of %s, which it asks about the job.' % host,
                    'ansible %s {inventory} -m ansible.builtin.ping' % host)
    job_id, state = job.get('job_id'), job.get('state')
    reason = job.get('reason') if job.get('reason') not in (None, '', 'None') else ''
    if job.get('restarts'):
        job_id = '%s (requeued %d time%s by Slurm)' % (job_id, job['restarts'], '' if job['restarts'] == 1 else 's')
    if state == 'NONE':
        return _hop(BROKEN, 'no Slurm job', 'no job serves %s: deploy.yml never submitted one, or teardown ran' % host,
                    '{deploy}')
    if is_running(state):
        left = job.get('time_left')
        return _hop(OK, 'job %s %s on %s, %s left' % (job_id, state, job.get('node') or '?',
                                                      'no limit' if left is None else format_seconds(left)))
    if is_waiting(state):
        return _hop(BROKEN, 'job %s %s (%s), expected start %s' % (job_id, state, reason or 'None',
                                                                   job.get('expected_start') or 'N/A'),
                    'the Slurm job of %s waits in the queue: %s' % (host, reason or 'Slurm gives no reason'),
                    'wait until it runs (squeue -j %s --start on the login node); {deploy} waits for it visibly' % job_id)
    how = state + (' (%s)' % reason if reason else '')
    if job.get('stopped'):
        how += ', after the job stopped: %s' % job['stopped']
    last = (job.get('log_tail') or '').strip().splitlines()
    return _hop(BROKEN, 'job %s %s' % (job_id, how),
                'the Slurm job of %s ended: %s%s' % (host, how, '; the last line of %s: %s' % (job.get('log'), last[-1])
                                                     if last else ''),
                '{deploy} (it submits a new job)')


def _login_node_hop(record, hostvars):
    port = str(record['remote_port'])
    good, bad = [], []
    for node in record['login_nodes']:
        status = (hostvars.get(node, {}).get('hpc_vllm_status_login') or {}).get(port)
        if status is None:
            bad.append((node, 'unreachable'))
            continue
        others = sorted(set(entry['user'] for entry in status.get('listeners') or [] if not entry.get('ours')))
        ours = [entry for entry in status.get('listeners') or [] if entry.get('ours')]
        if others and not ours:
            bad.append((node, 'port %s taken by %s' % (port, ', '.join(others))))
        elif not ours:
            bad.append((node, 'no listener on 127.0.0.1:%s' % port))
        elif status.get('health_status') != 200:
            bad.append((node, 'listener does not reach vLLM (/health: %s)' % _http(status.get('health_status'), status.get('health_msg'))))
        else:
            good.append(node)
    if not record['login_nodes']:
        return _hop(BROKEN, 'no login node recorded', 'deploy.yml did not finish for this deployment.', '{deploy}')
    if good and not bad:
        return _hop(OK, ', '.join(good))
    detail = '; '.join('%s: %s' % item for item in bad)
    cause = ('the reverse tunnel from %s does not reach %s (%s): autossh is down or retrying, or the login node '
             'refused the forward' % (record['compute_host'], ', '.join(node for node, dummy in bad), detail))
    if good:
        return _hop(DEGRADED, '%s ok; %s' % (', '.join(good), detail), cause, '{deploy}')
    return _hop(BROKEN, detail, cause, '{deploy}')


def _local_hop(record, local):
    port = record['local_port']
    listeners = local.get('listeners') or []
    ours = [entry for entry in listeners if entry.get('ours')]
    others = sorted(set(entry['user'] for entry in listeners if not entry.get('ours')))
    if not ours:
        if others:
            return _hop(BROKEN, 'port %s taken by %s' % (port, ', '.join(others)),
                        'another user holds 127.0.0.1:%s on the laptop' % port,
                        'choose another tunnel_local_port for %s, then {deploy}' % record['compute_host'])
        return _hop(BROKEN, 'nothing listens on 127.0.0.1:%s' % port,
                    'the forward tunnel (service hpc-vllm-forward-%s) is not running on the laptop' % record['name'],
                    '{deploy}')
    if local.get('health_status') == 200:
        return _hop(OK, '127.0.0.1:%s' % port)
    return _hop(BROKEN, '127.0.0.1:%s: /health: %s' % (port, _http(local.get('health_status'), local.get('health_msg'))),
                'the forward tunnel listens but reaches no vLLM: its ssh is down or landed on a login node without '
                'the reverse tunnel (it moves on after 3 failed checks)',
                '{deploy}')


def _completion_hop(record, local):
    status = local.get('completion_status')
    reply = local.get('completion_json')
    if status == 200 and isinstance(reply, dict) and _search(_COMPLETION_CHECK, reply):
        return _hop(OK, '%s tokens' % (_search('usage.completion_tokens', reply) or '?'))
    if status == 401:
        return _hop(BROKEN, 'HTTP 401', 'vLLM refused the API key the laptop holds: the key changed since deploy',
                    '{deploy}')
    if status == 404:
        return _hop(BROKEN, 'HTTP 404', 'vLLM does not serve the model %s any more' % record['model'], '{deploy}')
    return _hop(BROKEN, _http(status, local.get('completion_msg')),
                'the completion through both hops failed', '{deploy}')


def status_endpoints(records, login_node=None):
    """The endpoints module hpc.vllm.endpoint_check checks for status.yml, from the endpoint records: on the
    laptop (no ``login_node``) each deployment's local port, with its model and key file for a completion, in
    the records' order; on a login node the remote ports of the deployments it carries, once each."""
    if login_node is None:
        return [dict((key, value) for key, value in (('port', record['local_port']), ('model', record['model']),
                                                     ('key_file', record.get('key_file'))) if value)
                for record in records.values()]
    ports = []
    for record in records.values():
        if login_node in (record.get('login_nodes') or []) and record['remote_port'] not in ports:
            ports.append(record['remote_port'])
    return [{'port': port} for port in ports]


def status_report(names, records, hostvars, laptop, inventories):
    """One row per deployment name: the state of each hop, in order, and the first broken hop's cause and fix.

    ``records`` maps a name to the endpoint record the laptop keeps (missing when deploy.yml never wrote
    one), ``hostvars`` holds the ``hpc_vllm_status_*`` facts, ``laptop`` is the laptop's inventory name and
    ``inventories`` the inventory sources of this run, for the commands the report suggests.
    """
    inventory = ' '.join('-i %s' % source for source in inventories or [])
    local_all = hostvars.get(laptop, {}).get('hpc_vllm_status_local') or {}
    rows = []
    for name in names:
        record = (records or {}).get(name)
        if not record:
            hops = dict((hop, _hop(BROKEN, 'not deployed')) for hop in HOPS)
            hops['vllm'] = _hop(BROKEN, 'no record on the laptop', 'deploy.yml never finished for %s' % name, '{deploy}')
            limit = name
        else:
            local = local_all.get(name) or {}
            compute = hostvars.get(record['compute_host'], {})
            hops = {
                'vllm': (_job_hop(record, compute.get('hpc_vllm_status_job')) if compute.get('vllm_launcher') == 'slurm'
                         else _vllm_hop(record, compute)),
                'login_node': _login_node_hop(record, hostvars),
                'local_port': _local_hop(record, local),
                'completion': _completion_hop(record, local),
            }
            limit = ','.join([record['compute_host']] + record['login_nodes'] + [laptop])
        first = next((hop for hop in HOPS if hops[hop]['state'] != OK), None)
        cause = fix = None
        if first:
            cause = hops[first]['cause']
            fix = (hops[first]['fix'] or '').format(
                deploy='ansible-playbook hpc.vllm.deploy %s --limit %s' % (inventory, limit), inventory=inventory)
        rows.append({'deployment': name, 'hops': hops, 'first_broken': first, 'cause': cause, 'fix': fix})
    return {
        'rows': rows,
        'broken': any(hop['state'] == BROKEN for row in rows for hop in row['hops'].values()),
        'table': status_table(rows),
    }


def status_table(rows):
    """The rows as text: one line per deployment, one column per hop in order, then cause and fix."""
    header = ['deployment'] + [HOP_TITLES[hop] for hop in HOPS]
    body = [[row['deployment']] + [row['hops'][hop]['state'] for hop in HOPS] for row in rows]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    lines = ['  '.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header] + body]
    for row in rows:
        for hop in HOPS:
            lines.append('%s / %s: %s' % (row['deployment'], HOP_TITLES[hop], row['hops'][hop]['detail']))
        if row['first_broken']:
            lines.append('%s: first broken hop: %s' % (row['deployment'], HOP_TITLES[row['first_broken']]))
            lines.append('  likely cause: %s' % row['cause'])
            lines.append('  fix: %s' % row['fix'])
    return lines


class FilterModule(object):
    def filters(self):
        return {
            'status_endpoints': status_endpoints,
            'status_report': status_report,
        }
