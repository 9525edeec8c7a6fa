# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The plan of the double hop, shared by the plays of ``deploy.yml``: which deployments there are, which
login node each reverse tunnel lands on, which keys each login node authorizes, and which host keys
each side pins. Kept in Python, in one place, because three roles on three kinds of host must agree
on it, and because it is easier to test here than spread over Jinja in several plays."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import re

from ansible.errors import AnsibleFilterError

# Must equal the defaults of roles/reverse_tunnel and roles/forward_tunnel (a unit test compares them):
# the plays read them here for hosts whose inventory does not set them.
DEFAULTS = {'tunnel_remote_port': 8020, 'tunnel_local_port': 18000, 'vllm_port': 8000}

_SLUG_BAD = re.compile(r'[^a-z0-9_-]+')


def tunnel_slug(value):
    """A name fit for a unit, a directory and an authorized_keys marker: ``[a-z0-9_-]+``."""
    slug = _SLUG_BAD.sub('-', str(value).lower()).strip('-')
    if not slug:
        raise AnsibleFilterError('tunnel_slug: %r leaves no letter or digit to name a deployment' % (value,))
    return slug


def _port(value):
    if isinstance(value, bool):
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 1 <= port <= 65535 else None


# What every tunnel asks the login node to run: the only request that the forced command of its key
# (roles/bastion/files/hpc-vllm-tunnel-session) answers with something other than a refusal. Why a session
# at all, when ``ssh -N`` would do: sshd turns Nagle's algorithm off (TCP_NODELAY) on a connection only
# when a session starts on it. Without one, a reply that vLLM writes in two pieces (headers, then body)
# waits in the login node's sshd for the ACK of the first piece, which the laptop delays by 40 ms: p99 of a
# GET through the double hop was 45-48 ms against 1 ms direct (docs/benchmarks/).
TUNNEL_HOLD_COMMAND = 'hpc-vllm-hold'


def tunnel_ssh_options(known_hosts, server_alive_interval, server_alive_count_max, connect_timeout,
                       exit_on_forward_failure=True):
    """The ssh options every tunnel of the collection runs with, reverse and forward alike (``Key=value``).

    Kept here, once, because they are the tunnels' safety: a forward failure or a dead login node ends ssh
    (so that its supervisor restarts it), nothing is asked interactively or learnt on first use, and nothing
    from ~/.ssh/config or a shared control socket changes them. Callers add ``HostKeyAlias`` (the login node's
    name in tunnel_bastions, under which its host keys are pinned) and run ssh with ``-F none -n -T`` (no
    ``-N``: ``RemoteCommand`` opens the session that gets the connection TCP_NODELAY on the login node).

    ``exit_on_forward_failure=False`` is for the reverse tunnels only: a failed ``-R`` would end ssh before
    the session starts, and it is the session (the login node's forced command) that ends a stale
    session still holding the port, and then checks that the port is this tunnel's.
    """
    return [
        'RemoteCommand=%s' % TUNNEL_HOLD_COMMAND,
        'ExitOnForwardFailure=%s' % ('yes' if exit_on_forward_failure else 'no'),
        'ServerAliveInterval=%d' % int(server_alive_interval),
        'ServerAliveCountMax=%d' % int(server_alive_count_max),
        'BatchMode=yes',
        'IdentitiesOnly=yes',
        'ConnectTimeout=%d' % int(connect_timeout),
        'StrictHostKeyChecking=yes',
        'UserKnownHostsFile=%s' % known_hosts,
        'GlobalKnownHostsFile=/dev/null',
        'UpdateHostKeys=no',
        'ControlMaster=no',
        'ControlPath=none',
        'PermitLocalCommand=no',
    ]


def tunnel_deployments(compute_hosts, hostvars):
    """One dict per compute host: ``host``, ``name``, ``local_port``, ``remote_port`` and ``bastions``
    (the hosts named in its ``tunnel_bastions``), with the roles' defaults where the inventory sets nothing.

    Ports that are not integers from 1 to 65535 come back as None, for tunnel_conflicts to report.
    """
    deployments = []
    for host in compute_hosts:
        hv = hostvars[host]
        bastions = hv.get('tunnel_bastions') or []
        deployments.append({
            'host': host,
            'name': tunnel_slug(hv.get('tunnel_name') or host),
            'local_port': _port(hv.get('tunnel_local_port', DEFAULTS['tunnel_local_port'])),
            'remote_port': _port(hv.get('tunnel_remote_port', DEFAULTS['tunnel_remote_port'])),
            'raw_local_port': hv.get('tunnel_local_port', DEFAULTS['tunnel_local_port']),
            'raw_remote_port': hv.get('tunnel_remote_port', DEFAULTS['tunnel_remote_port']),
            'bastions': [entry.get('host') if isinstance(entry, dict) else entry
                         for entry in (bastions if isinstance(bastions, list) else [bastions])],
        })
    return deployments


def _repeated(deployments, key):
    seen = {}
    for deployment in deployments:
        value = key(deployment)
        if value is None:
            continue
        seen.setdefault(value, []).append(deployment['host'])
    return [(value, hosts) for value, hosts in seen.items() if len(hosts) > 1]


def tunnel_conflicts(deployments):
    """Every error across deployments that a single host's argument spec cannot see, as sentences."""
    errors = []
    for deployment in deployments:
        host = deployment['host']
        if deployment['local_port'] is None:
            errors.append('%s: tunnel_local_port must be an integer from 1 to 65535, got %r.'
                          % (host, deployment['raw_local_port']))
        if deployment['remote_port'] is None:
            errors.append('%s: tunnel_remote_port must be an integer from 1 to 65535, got %r.'
                          % (host, deployment['raw_remote_port']))
        if not deployment['bastions'] or not all(isinstance(b, str) and b for b in deployment['bastions']):
            errors.append("%s: tunnel_bastions must list at least one login node, each as {host: NAME, port: 22, "
                          "user: ACCOUNT}; got %r." % (host, deployment['bastions']))
    for port, hosts in _repeated(deployments, lambda d: d['local_port']):
        errors.append('tunnel_local_port %d is set for %s: every deployment needs its own local port on the '
                      'laptop (for example 18000, 18001, ...).' % (port, ' and '.join(hosts)))
    for name, hosts in _repeated(deployments, lambda d: d['name']):
        errors.append("tunnel_name '%s' names %s: every deployment needs its own name (it defaults to the "
                      "inventory name)." % (name, ' and '.join(hosts)))
    # Two deployments that share a login node must not ask it for the same loopback port.
    by_bastion = []
    for deployment in deployments:
        for bastion in set(b for b in deployment['bastions'] if isinstance(b, str)):
            by_bastion.append({'host': deployment['host'], 'key': (bastion, deployment['remote_port'])})
    for (bastion, port), hosts in _repeated(by_bastion, lambda d: d['key'] if d['key'][1] else None):
        errors.append('tunnel_remote_port %d on login node %s is set for %s: deployments that share a login '
                      'node need different remote ports.' % (port, bastion, ' and '.join(hosts)))
    return errors


def _addresses(facts):
    return set((facts or {}).get('all_ipv4_addresses') or []) | set((facts or {}).get('all_ipv6_addresses') or [])


def tunnel_login_nodes(addresses, bastion_hosts, hostvars):
    """The inventory names of the login nodes that own any of ``addresses`` (as their facts report them).

    A login alias that round-robins resolves to several addresses: this says which login node each
    address is, so that a tunnel can be checked, and its host key pinned, per node.
    """
    wanted = set(addresses if isinstance(addresses, (list, tuple, set)) else [addresses])
    return [host for host in bastion_hosts
            if wanted & _addresses(hostvars[host].get('ansible_facts', {}))]


def _reachable_addresses(bastion):
    return [entry['address'] for entry in bastion.get('addresses') or [] if entry.get('reachable')]


def tunnel_known_hosts(tunnel, bastion_hosts, hostvars, previous=None, unanswered=()):
    """known_hosts lines for every bastion entry of a tunnel plan, named by the entry's host name.

    Both sides connect with HostKeyAlias set to the entry's host, so one line per host key of every login
    node behind that name (the nodes the compute node reached) is what they accept: a round-robin alias
    accepts exactly its own login nodes, and nothing is learnt on first use.

    A login node that did not answer in this run (``unanswered``, from tunnel_unanswered) published no
    host keys: for its entry the lines of ``previous`` (the file as the last run pinned it) are kept, in
    their order, so that the file does not change (which would restart the tunnels that work) and the
    tunnel to that node, kept as it was, still knows it when it answers again.
    """
    kept_hosts = set(entry['bastion']['host'] for entry in unanswered)
    pinned = [' '.join(line.split()[:3]) for line in (previous or '').splitlines() if len(line.split()) >= 3]
    lines = []
    for bastion in tunnel['bastions']:
        current = []
        for node in tunnel_login_nodes(_reachable_addresses(bastion), bastion_hosts, hostvars):
            for key in hostvars[node].get('bastion_host_keys') or []:
                current.append('%s %s' % (bastion['host'], ' '.join(key.split()[:2])))
        if bastion['host'] in kept_hosts:
            current = [line for line in pinned if line.split()[0] == bastion['host']] + current
        for line in current:
            if line not in lines:
                lines.append(line)
    return lines


def _service(service_prefix, address):
    return service_prefix + tunnel_slug(address.replace(':', '-'))


def _entry(bastion):
    return dict((key, value) for key, value in bastion.items() if key != 'addresses')


def tunnel_targets(tunnel, service_prefix, bastion_hosts, hostvars, down=(), by_name=False):
    """The reverse tunnels of a plan: one per reachable address of every bastion entry, first entry first.

    A login alias that round-robins over several nodes gets a tunnel to each of them, so the laptop meets
    this node's tunnel whichever node the alias sends it to. An address reached through two entries gets
    one tunnel. Each target names its service and the login node(s) that own its address. While login
    nodes are ``down`` (they did not answer Ansible), an address that no other login node owns may be
    theirs: it is left to tunnel_unanswered.

    ``by_name``: one tunnel per entry, to its host name rather than to an address. A Slurm job's tunnels
    start on a node that is not known when they are planned (the plan was probed from the login node, whose
    own name may resolve to an address the compute nodes cannot reach): the job's node resolves the name.
    """
    answered = [host for host in bastion_hosts if host not in down]
    targets, seen = [], set()
    if by_name:
        for bastion in tunnel['bastions']:
            reached = _reachable_addresses(bastion)
            if not reached or bastion['host'] in seen:
                continue
            seen.add(bastion['host'])
            login_nodes = tunnel_login_nodes(reached, answered, hostvars)
            if down and not login_nodes:
                continue
            targets.append({'bastion': _entry(bastion), 'address': bastion['host'],
                            'service': _service(service_prefix, bastion['host']), 'login_nodes': login_nodes})
        return targets
    for bastion in tunnel['bastions']:
        for address in _reachable_addresses(bastion):
            if address in seen:
                continue
            seen.add(address)
            login_nodes = tunnel_login_nodes([address], answered, hostvars)
            if down and not login_nodes:
                continue
            targets.append({
                'bastion': _entry(bastion),
                'address': address,
                'service': _service(service_prefix, address),
                'login_nodes': login_nodes,
            })
    return targets


def tunnel_unanswered(tunnel, service_prefix, bastion_hosts, hostvars, down=(), by_name=False):
    """The addresses of a plan's login nodes that this run cannot use, though a later moment may.

    Those the compute node resolved but did not reach, and, while login nodes are ``down`` (they did not
    answer Ansible: maintenance, a reboot), those it reached that no login node which answered owns. The
    tunnels to them are kept as the last run made them, and keep trying by themselves (tunnel_targets
    leaves them out, so nothing rewrites, restarts or removes them).
    """
    answered = [host for host in bastion_hosts if host not in down]
    targeted = set(target['address'] for target in tunnel_targets(tunnel, service_prefix, bastion_hosts, hostvars, down,
                                                                  by_name))
    unanswered, seen = [], set()
    for bastion in tunnel['bastions']:
        for entry in bastion.get('addresses') or []:
            address = entry.get('address')
            if not address or address in seen or address in targeted:
                continue
            seen.add(address)
            if entry.get('reachable') and not (down and not tunnel_login_nodes([address], answered, hostvars)):
                continue
            unanswered.append({'bastion': _entry(bastion), 'address': address, 'service': _service(service_prefix, address),
                               'reached': bool(entry.get('reachable'))})
    return unanswered


def bastion_tunnel_keys(tunnels, login_node, hostvars, forward_keys):
    """The bastion role's ``bastion_tunnel_keys`` for one login node.

    ``tunnels`` are the plans the compute nodes published (``hpc_vllm_tunnel``); a tunnel needs this login
    node when one of the addresses it reached belongs to it. ``forward_keys`` maps a deployment name to
    the laptop's public key for it. Keys not made yet (check mode on a new node) are left out.
    """
    own = _addresses(hostvars[login_node].get('ansible_facts', {}))
    keys = []
    for tunnel in tunnels:
        if not any(set(_reachable_addresses(bastion)) & own for bastion in tunnel['bastions']):
            continue
        wanted = (('reverse', tunnel.get('public_key')), ('forward', (forward_keys or {}).get(tunnel['name'])))
        for direction, public_key in wanted:
            if public_key:
                keys.append({'name': tunnel['name'], 'direction': direction, 'public_key': public_key,
                             'port': tunnel['remote_port']})
    return keys


def bastion_port_problems(tunnel_keys, listeners):
    """The reverse tunnels of ``bastion_tunnel_keys`` that could never listen on this login node.

    ``listeners`` is what hpc.vllm.tcp_listeners reported for their ports. A port fails when another user
    listens on it (``taken_by``: their users and addresses), or when it is below the lowest port a user
    without root may listen on (``privileged``). One entry per deployment and port, in the keys' order.
    """
    problems, seen = [], set()
    uid, start = listeners.get('uid'), listeners.get('unprivileged_port_start', 1024)
    for key in tunnel_keys:
        port = int(key['port'])
        if key.get('direction') != 'reverse' or (key['name'], port) in seen:
            continue
        seen.add((key['name'], port))
        others = [entry for entry in listeners.get('ports', {}).get(str(port)) or [] if not entry.get('ours')]
        privileged = uid != 0 and port < start
        if others or privileged:
            problems.append({
                'name': key['name'], 'port': port, 'privileged': privileged,
                'taken_by': sorted(set(entry['user'] for entry in others)),
                'addresses': [entry['address'] for entry in others],
            })
    return problems


def tunnel_plans(compute_hosts, hostvars):
    """The tunnel plans (fact ``hpc_vllm_tunnel``) of the compute hosts that published one in this run."""
    plans = []
    for host in compute_hosts:
        plan = hostvars[host].get('hpc_vllm_tunnel')
        if plan:
            plans.append(plan)
    return plans


def forward_tunnel_deployments(compute_hosts, hostvars, bastion_hosts):
    """The forward_tunnel role's deployments: every compute host that served vLLM and planned its tunnels.

    The login nodes keep only what the laptop needs (host, port, user), in the order of tunnel_bastions;
    the host keys come from the login nodes behind the addresses the compute node reached.
    """
    deployments = []
    for host in compute_hosts:
        hv = hostvars[host]
        plan, endpoint = hv.get('hpc_vllm_tunnel'), hv.get('vllm_server_endpoint')
        if not plan or not endpoint:
            continue
        deployments.append({
            'name': plan['name'],
            'local_port': int(hv.get('tunnel_local_port', DEFAULTS['tunnel_local_port'])),
            'remote_port': int(plan['remote_port']),
            'bastions': [dict((key, bastion[key]) for key in ('host', 'port', 'user') if key in bastion)
                         for bastion in plan['bastions'] if _reachable_addresses(bastion)],
            # as the compute node pinned them (with those of login nodes that did not answer), else from the facts
            'known_hosts': hv.get('hpc_vllm_known_hosts') or tunnel_known_hosts(plan, bastion_hosts, hostvars),
            'model': endpoint['model'],
        })
    return deployments


def tunnel_api_keys(compute_hosts, hostvars):
    """Deployment name -> vllm_api_key, for the final check through both hops (a secret: use with no_log)."""
    keys = {}
    for host in compute_hosts:
        hv = hostvars[host]
        plan = hv.get('hpc_vllm_tunnel')
        if plan and hv.get('vllm_api_key'):
            keys[plan['name']] = hv.get('vllm_api_key')
    return keys


def endpoint_records(compute_hosts, hostvars, bastion_hosts):
    """What the laptop keeps about each deployment (role ``endpoints``; ``status.yml`` and ``teardown.yml``
    read it back): the forward tunnel's deployment plus where each hop is, by inventory name.

    ``login_nodes`` are the login nodes that carry this deployment's reverse tunnel (the hosts behind the
    addresses the compute node reached), so that a later run checks the right listeners without
    resolving the login aliases again.
    """
    records = []
    for deployment in forward_tunnel_deployments(compute_hosts, hostvars, bastion_hosts):
        host = next(host for host in compute_hosts
                    if (hostvars[host].get('hpc_vllm_tunnel') or {}).get('name') == deployment['name'])
        hv = hostvars[host]
        addresses = [address for bastion in hv['hpc_vllm_tunnel']['bastions'] for address in _reachable_addresses(bastion)]
        records.append({
            'name': deployment['name'],
            'base_url': 'http://127.0.0.1:%d/v1' % deployment['local_port'],
            'local_port': deployment['local_port'],
            'model': deployment['model'],
            'compute_host': host,
            'vllm_port': int(hv['vllm_server_endpoint'].get('port', hv.get('vllm_port', DEFAULTS['vllm_port']))),
            'remote_port': deployment['remote_port'],
            'bastions': [bastion['host'] for bastion in deployment['bastions']],
            'login_nodes': tunnel_login_nodes(addresses, bastion_hosts, hostvars),
        })
    return records


class FilterModule(object):
    def filters(self):
        return {
            'tunnel_slug': tunnel_slug,
            'tunnel_ssh_options': tunnel_ssh_options,
            'tunnel_deployments': tunnel_deployments,
            'tunnel_conflicts': tunnel_conflicts,
            'tunnel_login_nodes': tunnel_login_nodes,
            'tunnel_targets': tunnel_targets,
            'tunnel_unanswered': tunnel_unanswered,
            'tunnel_known_hosts': tunnel_known_hosts,
            'bastion_tunnel_keys': bastion_tunnel_keys,
            'bastion_port_problems': bastion_port_problems,
            'tunnel_plans': tunnel_plans,
            'forward_tunnel_deployments': forward_tunnel_deployments,
            'tunnel_api_keys': tunnel_api_keys,
            'endpoint_records': endpoint_records,
        }
