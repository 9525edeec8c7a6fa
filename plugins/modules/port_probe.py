#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: port_probe
short_description: Tell which TCP endpoints the host can reach, and how fast
version_added: 0.1.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Opens a TCP connection from the host the module runs on to each of O(candidates), closes it at once,
    and reports whether it opened, to which address, and how long C(connect) took.
  - Built for a compute node choosing the login nodes (bastions) it can reach, in the order of preference
    given by O(candidates). RV(first_reachable) is that choice.
  - All candidates are probed at the same time, so a list of dead hosts costs one O(timeout), not one each.
  - A host name is resolved once; its IPv4 and IPv6 addresses are then tried in the resolver's order
    until one accepts the connection.
  - Nothing is sent over the connection. An SSH server logs it as closed before authentication.
  - The module only reads; it never reports RV(ignore:changed) and probes in check mode too.
extends_documentation_fragment:
  - hpc.vllm.attributes
  - hpc.vllm.attributes.read_only
options:
  candidates:
    description:
      - The endpoints to probe, in order of preference.
      - Each is a string V(host), V(host:port), V([2001:db8::1]) or V([2001:db8::1]:port); an IPv6 address
        goes in brackets, since V(2001:db8::1:22) could be read either way.
      - Or a dict with C(host) and optional C(port), like the entries of C(tunnel_bastions). Its other keys,
        for example C(user), are copied into the result, so the caller can use the chosen entry as it is.
        Keys named like the probe's own (C(reachable), C(latency_ms), C(address), C(error), C(addresses)) are replaced.
      - A host without a port gets O(default_port).
    type: list
    elements: raw
    required: true
  default_port:
    description: The port of a candidate that names none.
    type: int
    default: 22
  timeout:
    description:
      - Seconds one connection may take to open, for each address of a candidate and each attempt.
      - Name resolution is bounded by the resolver's own timeouts, not by this one.
    type: float
    default: 3
  attempts:
    description:
      - How many times to connect to each candidate. RV(results[].latency_ms) is the fastest of the
        connections that opened; a candidate is reachable when any of them opened.
      - More than one smooths out a single slow handshake when the latency decides between candidates.
    type: int
    default: 1
  all_addresses:
    description:
      - Probe every address a host name resolves to, not only the first that answers, and report each in
        RV(results[].addresses).
      - For a login alias that round-robins over several nodes (one name, several addresses), this tells
        which of those nodes the host can reach, so that a tunnel can be kept to each of them.
    type: bool
    default: false
  require_any:
    description:
      - Fail when no candidate is reachable, with a message that lists each candidate and why it failed.
      - When V(false), an unreachable list is reported in RV(results) and RV(first_reachable=null).
    type: bool
    default: false
notes:
  - Reachability is from the host the module runs on. Use C(delegate_to) to probe from another one.
seealso:
  - module: hpc.vllm.vllm_health
"""

EXAMPLES = r"""
- name: Find the login nodes this compute node can reach
  hpc.vllm.port_probe:
    candidates: "{{ tunnel_bastions }}"
    require_any: true
  register: __tunnel_probe

- name: Tunnel through the first reachable one, keeping its user
  ansible.builtin.set_fact:
    __tunnel_bastion: "{{ __tunnel_probe.first_reachable }}"

- name: Probe strings, with an IPv6 address in brackets and one port for all that name none
  hpc.vllm.port_probe:
    candidates:
      - login1.cluster.example.org
      - login2.cluster.example.org:2222
      - "[2001:db8::10]:22"
    default_port: 22
    timeout: 1.5
    attempts: 3
  register: __probe

- name: Prefer the fastest reachable endpoint over the order given
  ansible.builtin.debug:
    msg: "{{ (__probe.reachable | sort(attribute='latency_ms') | first).host }}"
  when: __probe.reachable | length > 0

- name: See every login node behind a round-robin alias
  hpc.vllm.port_probe:
    candidates: [login.cluster.example.org]
    all_addresses: true
  register: __probe_alias

- name: Check from the laptop that the bastion's SSH port answers
  hpc.vllm.port_probe:
    candidates:
      - host: login1.cluster.example.org
        port: 22
    require_any: true
  delegate_to: localhost
"""

RETURN = r"""
results:
  description: One entry per candidate, in the order of O(candidates).
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The host as given, an IPv6 address without brackets.
      type: str
      sample: login1.cluster.example.org
    port:
      description: The port probed.
      type: int
      sample: 22
    reachable:
      description: Whether a TCP connection opened.
      type: bool
      sample: true
    latency_ms:
      description: Milliseconds the fastest connection took to open, rounded to 0.01; V(null) when unreachable.
      type: float
      sample: 0.87
    address:
      description: The IP address that accepted the connection; V(null) when unreachable.
      type: str
      sample: 192.0.2.11
    addresses:
      description:
        - With O(all_addresses), one entry per address of the host, in the resolver's order, each with
          C(address), C(reachable), C(latency_ms) and C(error) as above. V([]) when the name did not resolve.
      returned: when O(all_addresses=true)
      type: list
      elements: dict
      sample:
        - address: 192.0.2.11
          reachable: true
          latency_ms: 0.87
          error: null
        - address: 192.0.2.12
          reachable: false
          latency_ms: null
          error: connection refused
    error:
      description:
        - V(null) when reachable. Otherwise a short reason, for example V(connection refused),
          V(timed out after 3.0s), V(name or service not known) or V(no route to host).
        - When the addresses of a host failed differently, each address with its reason, separated by V(; ).
      type: str
      sample: connection refused
  sample:
    - host: login1.cluster.example.org
      port: 22
      user: alice
      reachable: true
      latency_ms: 0.87
      address: 192.0.2.11
      error: null
    - host: login2.cluster.example.org
      port: 22
      user: alice
      reachable: false
      latency_ms: null
      address: null
      error: timed out after 3.0s
reachable:
  description: The entries of RV(results) that are reachable, in the same order.
  returned: always
  type: list
  elements: dict
  sample:
    - host: login1.cluster.example.org
      port: 22
      user: alice
      reachable: true
      latency_ms: 0.87
      address: 192.0.2.11
      error: null
first_reachable:
  description: The first entry of RV(reachable), or V(null) when no candidate is reachable.
  returned: always
  type: dict
  sample:
    host: login1.cluster.example.org
    port: 22
    user: alice
    reachable: true
    latency_ms: 0.87
    address: 192.0.2.11
    error: null
all_reachable:
  description: Whether every candidate is reachable.
  returned: always
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._port_probe import (
    endpoint,
    parse_candidates,
    probe_all,
)


def main():
    argument_spec = dict(
        candidates=dict(type='list', elements='raw', required=True),
        default_port=dict(type='int', default=22),
        timeout=dict(type='float', default=3),
        attempts=dict(type='int', default=1),
        require_any=dict(type='bool', default=False),
        all_addresses=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
    )
    params = module.params
    if params['timeout'] <= 0:
        module.fail_json(msg='timeout must be positive, got %s' % params['timeout'])
    if params['attempts'] < 1:
        module.fail_json(msg='attempts must be at least 1, got %s' % params['attempts'])
    try:
        candidates = parse_candidates(params['candidates'], params['default_port'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    results = probe_all(candidates, params['timeout'], params['attempts'], all_addresses=params['all_addresses'])
    reachable = [entry for entry in results if entry['reachable']]
    result = {
        'changed': False,
        'results': results,
        'reachable': reachable,
        'first_reachable': reachable[0] if reachable else None,
        'all_reachable': len(reachable) == len(results),
    }
    if params['require_any'] and not reachable:
        module.fail_json(
            msg='no candidate is reachable: %s' % ', '.join(
                '%s (%s)' % (endpoint(entry['host'], entry['port']), entry['error']) for entry in results),
            **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
