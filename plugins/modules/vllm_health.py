#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: vllm_health
short_description: Wait until a vLLM OpenAI-compatible server serves a model
version_added: 0.1.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Polls a vLLM server until C(GET /health) answers 200 B(and) C(GET /v1/models) lists O(model),
    or until O(timeout) seconds have passed.
  - A refused connection, a request that times out, a 5xx answer, a wrong API key, invalid JSON and a
    model that is not listed all count as not ready yet, since a supervisor may still be replacing an old
    server by a new one. The last reason is returned in RV(reason) and in the failure message.
  - The module only reads; it never reports RV(ignore:changed) and probes in check mode too.
extends_documentation_fragment:
  - hpc.vllm.attributes
  - hpc.vllm.attributes.read_only
options:
  url:
    description:
      - Root URL of the server, as seen from the host the module runs on.
      - A trailing C(/v1), as in an OpenAI client's C(base_url), is ignored.
    type: str
    default: http://127.0.0.1:8000
  model:
    description:
      - The name the model is served under (vLLM's C(--served-model-name), else its C(--model)).
      - It must appear as an C(id) in the answer of C(GET /v1/models).
    type: str
    required: true
  api_key:
    description:
      - API key the server was started with (vLLM's C(--api-key)), sent in an C(Authorization) header
        as a bearer token to C(/v1/models). C(/health) is asked without it.
      - Never returned nor written in a message.
    type: str
  timeout:
    description:
      - Seconds to wait for the server to become ready before failing.
      - The default is long because loading a 70B model from a parallel filesystem takes many minutes.
      - With V(0) the server is asked once.
    type: int
    default: 1800
  interval:
    description: Seconds between two attempts.
    type: float
    default: 2
  request_timeout:
    description: Seconds one HTTP request may take.
    type: float
    default: 5
  validate_certs:
    description: Whether to validate the server's TLS certificate when O(url) is C(https).
    type: bool
    default: true
  unix_socket:
    description:
      - Path of a Unix socket the server listens on. The requests go through it; the host of O(url) is then
        only sent as the C(Host) header.
    type: path
  use_proxy:
    description:
      - Whether to honour the E(http_proxy) and E(https_proxy) environment variables.
      - Off by default, because the server is usually on the host's own loopback and cluster nodes often
        carry a proxy setting that does not exempt C(127.0.0.1).
    type: bool
    default: false
notes:
  - vLLM's C(/health) answers 200 once the engine is up; C(/v1/models) then tells which models it serves and
    their C(max_model_len).
seealso:
  - name: vLLM OpenAI-compatible server
    description: The endpoints this module asks.
    link: https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
"""

EXAMPLES = r"""
- name: Wait until vLLM serves the model (loading a large model takes minutes)
  hpc.vllm.vllm_health:
    url: "http://127.0.0.1:{{ vllm_port }}"
    model: "{{ vllm_served_model_name }}"
    api_key: "{{ vllm_api_key | default(omit) }}"
  register: __vllm_health

- name: Show the context length the server settled on
  ansible.builtin.debug:
    msg: "{{ __vllm_health.models }} with max_model_len {{ __vllm_health.max_model_len }}"

- name: Check once through the laptop's end of the tunnel, without waiting
  hpc.vllm.vllm_health:
    url: http://127.0.0.1:18000/v1
    model: my-model
    api_key: "{{ vllm_api_key }}"
    timeout: 0
  delegate_to: localhost

- name: Ask a server that listens on a Unix socket
  hpc.vllm.vllm_health:
    url: http://localhost
    unix_socket: /run/user/1000/vllm.sock
    model: my-model
    timeout: 60
"""

RETURN = r"""
ready:
  description: Whether the server answered /health with 200 and listed O(model) in /v1/models.
  returned: always
  type: bool
  sample: true
models:
  description: Ids of the models listed by the last /v1/models answer that could be read; empty if none.
  returned: always
  type: list
  elements: str
  sample:
    - my-model
max_model_len:
  description: The C(max_model_len) the server announces for O(model), or V(null) when unknown.
  returned: always
  type: int
  sample: 8192
elapsed:
  description: Seconds spent waiting, rounded to a tenth.
  returned: always
  type: float
  sample: 42.3
attempts:
  description: How many times the server was asked.
  returned: always
  type: int
  sample: 22
reason:
  description:
    - "Why the server was not ready at the last attempt, for example V(/health answered 503),
      V(/v1/models answered 401: API key rejected or missing), V(model 'x' not served; served: [a, b]),
      V(invalid JSON from /v1/models) or V(GET http://127.0.0.1:8000/health failed: [Errno 111] Connection refused)."
    - When RV(ready=true), a short confirmation.
  returned: always
  type: str
  sample: "/health answered 503"
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._http import request

from ansible_collections.hpc.vllm.plugins.module_utils._vllm_api import (
    HEALTH_PATH,
    MODELS_PATH,
    base_url,
    evaluate,
    max_model_len,
    model_ids,
    parse_models,
)

_USER_AGENT = 'hpc.vllm.vllm_health'


class VllmProbe(object):
    def __init__(self, module):
        self.module = module
        self.base_url = base_url(module.params['url'])
        self.api_key = module.params['api_key']

    def get(self, path, request_timeout, headers=None):
        """Return ``(status, body, None)``, or ``(None, None, reason)`` when no HTTP answer came."""
        params = self.module.params
        return request(self.base_url + path, headers=headers, timeout=request_timeout,
                       validate_certs=params['validate_certs'], use_proxy=params['use_proxy'],
                       unix_socket=params['unix_socket'], agent=_USER_AGENT)

    def attempt(self, request_timeout):
        """Ask the server once. Return ``(ready, reason, models)``; models is None when unread."""
        status, dummy, failure = self.get(HEALTH_PATH, request_timeout)
        if failure:
            return False, failure, None
        if status != 200:
            return evaluate(status, None, None, self.module.params['model']) + (None, )

        headers = {'Accept': 'application/json'}
        if self.api_key:
            headers['Authorization'] = 'Bearer %s' % self.api_key
        status, body, failure = self.get(MODELS_PATH, request_timeout, headers)
        if failure:
            return False, failure, None
        ready, reason = evaluate(200, status, body, self.module.params['model'])
        models = None
        if status == 200:
            try:
                models = parse_models(body)
            except ValueError:
                pass
        return ready, reason, models

    def __call__(self):
        params = self.module.params
        started = time.monotonic()
        deadline = started + params['timeout']
        attempts = 0
        models = []
        while True:
            attempts += 1
            # a request must not run past the deadline, but needs some time to answer at all
            request_timeout = max(min(params['request_timeout'], deadline - time.monotonic()), 0.5)
            ready, reason, answered = self.attempt(request_timeout)
            if answered is not None:
                models = answered
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0:
                break
            time.sleep(min(params['interval'], remaining))

        return {
            'changed': False,
            'ready': ready,
            'models': model_ids(models),
            'max_model_len': max_model_len(models, params['model']),
            'elapsed': round(time.monotonic() - started, 1),
            'attempts': attempts,
            'reason': reason,
        }


def main():
    argument_spec = dict(
        url=dict(type='str', default='http://127.0.0.1:8000'),
        model=dict(type='str', required=True),
        api_key=dict(type='str', no_log=True),
        timeout=dict(type='int', default=1800),
        interval=dict(type='float', default=2),
        request_timeout=dict(type='float', default=5),
        validate_certs=dict(type='bool', default=True),
        unix_socket=dict(type='path'),
        use_proxy=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
    )
    if not module.params['url'].startswith(('http://', 'https://')):
        module.fail_json(msg='url must start with http:// or https://, got %s' % module.params['url'])
    for name in ('timeout', 'interval'):
        if module.params[name] < 0:
            module.fail_json(msg='%s must not be negative, got %s' % (name, module.params[name]))
    if module.params['request_timeout'] <= 0:
        module.fail_json(msg='request_timeout must be positive, got %s' % module.params['request_timeout'])

    result = VllmProbe(module)()
    if not result['ready']:
        module.fail_json(
            msg='vLLM at %s not ready after %ds: %s' % (module.params['url'], module.params['timeout'], result['reason']),
            **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
