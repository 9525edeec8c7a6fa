#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: gpu_info
short_description: Report the NVIDIA GPUs of a node and the dtype vLLM should use on them
version_added: 0.1.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Runs C(nvidia-smi --query-gpu=index,name,uuid,compute_cap,memory.total,memory.used,driver_version
    --format=csv,noheader,nounits) and returns one entry per GPU with its compute capability and memory.
  - Drivers older than R510 do not know the C(compute_cap) field; the module then asks again without it
    and returns the GPUs with an unknown compute capability.
  - Derives from the compute capabilities the dtype vLLM should run with, see RV(auto_dtype).
  - A node without C(nvidia-smi), or where C(nvidia-smi) fails (for example because the driver is not loaded),
    is not a module failure, since CPU partitions are normal on a cluster. The module then returns
    RV(available=false) and a message in RV(error); the caller decides what to do.
  - The module never changes anything and never reports RV(ignore:changed).
extends_documentation_fragment:
  - hpc.vllm.attributes
  - hpc.vllm.attributes.read_only
options:
  nvidia_smi_path:
    description:
      - Path of the C(nvidia-smi) executable.
      - When not set, the module looks for C(nvidia-smi) in E(PATH) and in C(/usr/bin).
    type: path
  timeout:
    description:
      - Seconds to wait for C(nvidia-smi) before giving up, so that a hung driver does not hang the play.
      - Enforced with the C(timeout) command of GNU coreutils. When that command is not installed, or when
        O(timeout=0), the module waits for C(nvidia-smi) without limit.
    type: int
    default: 30
notes:
  - A GPU whose compute capability is unknown makes RV(auto_dtype) C(float16), the dtype every GPU supports.
seealso:
  - name: nvidia-smi documentation
    description: The fields this module queries are described in C(nvidia-smi --help-query-gpu).
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
  - name: CUDA GPU compute capabilities
    description: Which GPU has which compute capability.
    link: https://developer.nvidia.com/cuda-gpus
"""

EXAMPLES = r"""
- name: Look at the GPUs of the compute node
  hpc.vllm.gpu_info:
  register: __vllm_gpu_info

- name: Refuse to start vLLM without GPUs
  ansible.builtin.assert:
    that: __vllm_gpu_info.available
    fail_msg: "No usable NVIDIA GPU on {{ inventory_hostname }}: {{ __vllm_gpu_info.error }}"

- name: Pick the dtype vLLM runs with
  ansible.builtin.set_fact:
    _vllm_dtype: "{{ __vllm_gpu_info.auto_dtype if vllm_dtype == 'auto' else vllm_dtype }}"

- name: Use an nvidia-smi outside of PATH and give a slow driver more time
  hpc.vllm.gpu_info:
    nvidia_smi_path: /opt/nvidia/bin/nvidia-smi
    timeout: 120
"""

RETURN = r"""
available:
  description:
    - Whether C(nvidia-smi) answered and listed at least one GPU.
  returned: always
  type: bool
  sample: true
error:
  description:
    - Why no GPU could be listed, or V(null) when RV(available=true).
    - When C(nvidia-smi) failed, the message holds its exit code and the first line it printed.
  returned: always
  type: str
  sample: "nvidia-smi failed (rc=9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.
    Make sure that the latest NVIDIA driver is installed and running."
nvidia_smi:
  description: Path of the C(nvidia-smi) that was run, or V(null) when none was found.
  returned: always
  type: str
  sample: /usr/bin/nvidia-smi
gpus:
  description: One entry per GPU, in the order of their index. Empty when RV(available=false).
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: Index of the GPU as nvidia-smi numbers it.
      type: int
      returned: always
      sample: 0
    name:
      description: Product name.
      type: str
      returned: always
      sample: Quadro RTX 8000
    uuid:
      description: UUID of the GPU.
      type: str
      returned: always
      sample: GPU-5f2bb1a4-92b6-8e51-2a1c-1b5a7e3c9d01
    compute_capability:
      description:
        - Compute capability as V(MAJOR.MINOR), or V(null) when the driver cannot report it.
      type: str
      returned: always
      sample: "7.5"
    memory_total_mib:
      description: Total memory in MiB, or V(null) when nvidia-smi reports none.
      type: int
      returned: always
      sample: 46080
    memory_used_mib:
      description: Used memory in MiB, or V(null) when nvidia-smi reports none.
      type: int
      returned: always
      sample: 1
    driver_version:
      description: Version of the NVIDIA driver, or V(null) when nvidia-smi reports none.
      type: str
      returned: always
      sample: 535.183.01
gpu_count:
  description: Number of GPUs in RV(gpus).
  returned: always
  type: int
  sample: 4
min_compute_capability:
  description:
    - Lowest compute capability among the GPUs whose capability is known, compared numerically
      (V(10.0) is above V(9.0)).
    - V(null) when no GPU reports one.
  returned: always
  type: str
  sample: "7.5"
auto_dtype:
  description:
    - V(float16) when any GPU is below compute capability 8.0 (Volta and Turing have no bfloat16) or has an
      unknown compute capability; otherwise V(auto), which lets vLLM take the model's dtype.
    - V(auto) when there is no GPU.
  returned: always
  type: str
  choices:
    - auto
    - float16
  sample: float16
driver_version:
  description: Driver version of the first GPU (one node has one driver), or V(null) without GPUs.
  returned: always
  type: str
  sample: 535.183.01
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._command import TimedRunner, first_line
from ansible_collections.hpc.vllm.plugins.module_utils._nvidia_smi import (
    FALLBACK_QUERY_FIELDS,
    QUERY_FIELDS,
    auto_dtype,
    is_compute_cap_rejected,
    min_compute_capability,
    parse_query_output,
    query_argv,
)


class GpuInfo(object):
    def __init__(self, module):
        self.module = module
        self.timeout = module.params['timeout']
        self.runner = TimedRunner(module, self.timeout)

    def find_nvidia_smi(self):
        path = self.module.params['nvidia_smi_path']
        if path:
            return path
        return self.module.get_bin_path('nvidia-smi', opt_dirs=['/usr/bin'])

    def query(self, nvidia_smi, fields):
        # nvidia-smi's messages are English anyway; C keeps any helper it loads from translating its own.
        return self.runner.run(query_argv(nvidia_smi, fields))

    def __call__(self):
        result = {
            'changed': False,
            'available': False,
            'error': None,
            'nvidia_smi': None,
            'gpus': [],
            'gpu_count': 0,
            'min_compute_capability': None,
            'auto_dtype': auto_dtype([]),
            'driver_version': None,
        }

        nvidia_smi = self.find_nvidia_smi()
        if not nvidia_smi:
            result['error'] = 'nvidia-smi not found in PATH or /usr/bin'
            return result
        # run_command would fail the module on a path it cannot execute; a missing driver is no failure.
        if not (os.path.isfile(nvidia_smi) and os.access(nvidia_smi, os.X_OK)):
            result['error'] = '%s is not an executable file' % nvidia_smi
            return result
        result['nvidia_smi'] = nvidia_smi

        fields = QUERY_FIELDS
        rc, out, err = self.query(nvidia_smi, fields)
        if rc != 0 and is_compute_cap_rejected(out + err):
            fields = FALLBACK_QUERY_FIELDS
            rc, out, err = self.query(nvidia_smi, fields)

        if self.runner.timed_out(rc):
            result['error'] = 'nvidia-smi did not answer within %d seconds' % self.timeout
            return result
        if rc != 0:
            result['error'] = 'nvidia-smi failed (rc=%d): %s' % (rc, first_line(err, out) or 'no output')
            return result

        try:
            gpus = parse_query_output(out, fields)
        except ValueError as exc:
            # Unknown output is not a CPU node: guessing "no GPU" here would silently start vLLM wrong.
            result.update(msg='cannot parse the output of %s: %s' % (nvidia_smi, exc), stdout=out, stderr=err)
            self.module.fail_json(**result)

        if not gpus:
            result['error'] = 'nvidia-smi listed no GPU'
            return result

        gpus.sort(key=lambda gpu: gpu['index'])
        result.update({
            'available': True,
            'gpus': gpus,
            'gpu_count': len(gpus),
            'min_compute_capability': min_compute_capability(gpus),
            'auto_dtype': auto_dtype(gpus),
            'driver_version': gpus[0]['driver_version'],
        })
        return result


def main():
    argument_spec = dict(
        nvidia_smi_path=dict(type='path'),
        timeout=dict(type='int', default=30),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
    )
    if module.params['timeout'] < 0:
        module.fail_json(msg='timeout must be 0 (no limit) or a positive number of seconds, got %d'
                         % module.params['timeout'])

    module.exit_json(**GpuInfo(module)())


if __name__ == '__main__':
    main()
