#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: endpoint_check
short_description: Check the local endpoints of a host in one call - who listens, /health, a completion
version_added: 0.2.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - For each endpoint of O(endpoints), a port on C(127.0.0.1) of the host the module runs on, reports who
    listens on it (as M(hpc.vllm.tcp_listeners) does), what C(GET /health) answers, and, with O(endpoints[].model),
    what a one-token chat completion answers.
  - The API key of a completion is read from O(endpoints[].key_file) on the host itself and sent only in the
    request's header. It never passes through Ansible - not in the module's arguments, not in its result.
  - Built for C(playbooks/status.yml), where the laptop and every login node check their ports in one round
    trip each instead of one per check.
  - The module only reads; it never reports RV(ignore:changed). An endpoint that does not answer is a result,
    never a failure.
extends_documentation_fragment:
  - hpc.vllm.attributes
  - hpc.vllm.attributes.read_only
options:
  endpoints:
    description: The endpoints to check.
    type: list
    elements: dict
    required: true
    suboptions:
      port:
        description: The TCP port on C(127.0.0.1).
        type: int
        required: true
      model:
        description: The served model name; when set, a one-token chat completion is asked of it.
        type: str
      key_file:
        description: A file on this host that holds the API key for the completion (its first line).
        type: path
  timeout:
    description: Seconds each request may take.
    type: float
    default: 5
notes:
  - Linux only (C(/proc/net)).
seealso:
  - module: hpc.vllm.tcp_listeners
  - module: hpc.vllm.vllm_health
"""

EXAMPLES = r"""
- name: Check the laptop's endpoint, with a completion
  hpc.vllm.endpoint_check:
    endpoints:
      - port: 18000
        model: tiny-llama
        key_file: ~/.hpc-vllm/endpoints/cluster_a.key
  register: __endpoints
"""

RETURN = r"""
uid:
  description: The user id the module ran as.
  returned: always
  type: int
unprivileged_port_start:
  description: The lowest port a user without root may listen on.
  returned: always
  type: int
endpoints:
  description: One entry per endpoint of O(endpoints), in their order.
  returned: always
  type: list
  elements: dict
  contains:
    port:
      description: The port.
      type: int
    listeners:
      description: Its listening sockets, each C(address), C(uid), C(user), C(ours).
      type: list
      elements: dict
    health_status:
      description: The HTTP status of C(GET /health), or V(-1) when no answer came.
      type: int
    health_msg:
      description: Why no answer came, or V('').
      type: str
    completion_status:
      description: The HTTP status of the completion, V(-1) when no answer came, V(null) without O(endpoints[].model).
      type: int
    completion_msg:
      description: Why the completion got no answer or a bad one, or V('').
      type: str
    completion_json:
      description: The completion's JSON answer, or V(null).
      type: dict
"""

import io
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._http import request
from ansible_collections.hpc.vllm.plugins.module_utils._tcp_listeners import report

_AGENT = 'hpc.vllm.endpoint_check'


def _key(path):
    """The API key in ``path`` (its first line), or None when there is no such file."""
    if not path:
        return None
    try:
        with io.open(path, encoding='utf-8') as handle:
            return handle.readline().strip() or None
    except (IOError, OSError):
        return None


def check(endpoint, listeners, timeout):
    url = 'http://127.0.0.1:%d' % endpoint['port']
    status, dummy, failure = request(url + '/health', timeout=timeout, agent=_AGENT)
    result = dict(port=endpoint['port'], listeners=listeners, health_status=-1 if status is None else status,
                  health_msg=failure or '', completion_status=None, completion_msg='', completion_json=None)
    if not endpoint.get('model'):
        return result
    headers = {'Content-Type': 'application/json'}
    key = _key(endpoint.get('key_file'))
    if key:
        headers['Authorization'] = 'Bearer %s' % key
    body = json.dumps({'model': endpoint['model'], 'max_tokens': 1,
                       'messages': [{'role': 'user', 'content': 'status check'}]}).encode('utf-8')
    status, answer, failure = request(url + '/v1/chat/completions', method='POST', headers=headers, data=body,
                                      timeout=timeout, agent=_AGENT)
    result['completion_status'] = -1 if status is None else status
    result['completion_msg'] = failure or ''
    if answer:
        try:
            result['completion_json'] = json.loads(answer)
        except ValueError:
            result['completion_msg'] = result['completion_msg'] or 'the answer is no JSON'
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoints=dict(type='list', elements='dict', required=True, options=dict(
                port=dict(type='int', required=True),
                model=dict(type='str'),
                key_file=dict(type='path', no_log=False),
            )),
            timeout=dict(type='float', default=5),
        ),
        supports_check_mode=True,
    )
    endpoints = module.params['endpoints']
    bad = [endpoint['port'] for endpoint in endpoints if not 1 <= endpoint['port'] <= 65535]
    if bad:
        module.fail_json(msg='endpoints[].port must be from 1 to 65535, got %s' % ', '.join(str(port) for port in bad))
    if module.params['timeout'] <= 0:
        module.fail_json(msg='timeout must be positive, got %s' % module.params['timeout'])
    if not os.path.exists('/proc/net/tcp'):
        module.fail_json(msg='/proc/net/tcp is missing: endpoint_check works on Linux only')
    found = report([endpoint['port'] for endpoint in endpoints])
    module.exit_json(
        changed=False, uid=found['uid'], unprivileged_port_start=found['unprivileged_port_start'],
        endpoints=[check(endpoint, found['ports'][str(endpoint['port'])], module.params['timeout'])
                   for endpoint in endpoints])


if __name__ == '__main__':
    main()
