#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: slurm_job_info
short_description: Say where a deployment's Slurm job stands - state, reason, node, time left, how it ended
version_added: 0.3.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Runs on a cluster's login node, as the deployment's user, and only reads (C(scontrol -o show job), C(squeue
    --start) for a waiting job, C(sacct) for a job Slurm no longer lists, where the site keeps accounting).
  - The job is the one C(job.json) in O(directory) names (the module M(hpc.vllm.slurm_job) writes it).
extends_documentation_fragment:
  - hpc.vllm.attributes
  - hpc.vllm.attributes.read_only
options:
  name:
    description:
      - The deployment's name. A job that C(job.json) names but whose comment is not C(hpc-vllm:NAME) is not the
        deployment's (a slurmctld that lost its state gives the ids again) and counts as unknown.
    type: str
    required: true
  directory:
    description: The deployment's job directory.
    type: path
    required: true
  log_lines:
    description: How many of the last lines of the job's log to return in C(log_tail) of RV(job).
    type: int
    default: 0
seealso:
  - module: hpc.vllm.slurm_job
"""

EXAMPLES = r"""
- name: Read the deployment's job
  hpc.vllm.slurm_job_info:
    name: cluster-s
    directory: /home/jdoe/.hpc-vllm/slurm/cluster-s
  register: job
"""

RETURN = r"""
job:
  description:
    - The job - V(job_id), V(state) (Slurm's, such as V(PENDING), V(RUNNING), V(TIMEOUT); V(UNKNOWN) once Slurm
      forgot it; V(NONE) when C(job.json) names none), V(reason), V(node), V(time_limit), V(time_left) (seconds, or
      null), V(expected_start) (of a waiting job, as C(squeue --start) says it), V(exit_code), V(log) (its path),
      V(stopped) (the job script's note when it stopped cleanly) and V(log_tail).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._slurm_client import COMMENT, Slurm, describe, read_state


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            directory=dict(type='path', required=True),
            log_lines=dict(type='int', default=0),
        ),
        supports_check_mode=True,
    )
    state = read_state(module.params['directory'])
    job_id = state.get('job_id')
    if not job_id:
        module.exit_json(changed=False, job={'job_id': '', 'state': 'NONE', 'known': False})
    slurm = Slurm(module)
    record = slurm.job(job_id, COMMENT % module.params['name'])
    module.exit_json(changed=False, job=describe(slurm, job_id, record, module.params['log_lines'], state.get('log', '')))


if __name__ == '__main__':
    main()
