#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The documentation of the action plugin hpc.vllm.slurm_job_wait (plugins/action/slurm_job_wait.py), which
# runs on the controller and calls the modules slurm_job_info and vllm_health on the login node.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: slurm_job_wait
short_description: Wait, visibly, until a deployment's Slurm job runs and vLLM answers through the login node
version_added: 0.3.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Runs on the controller and asks the login node, every O(interval) seconds, where the job stands (module
    M(hpc.vllm.slurm_job_info)); once it runs, whether vLLM answers at O(url) there (module M(hpc.vllm.vllm_health)),
    which is the login node's end of the job's reverse tunnel.
  - Prints a line while the job waits - Slurm's reason and its expected start - whenever they change and at least
    every O(report_interval) seconds; then one line when the job runs on its node, and one when vLLM answers.
    A job can wait for hours on a busy cluster; without O(pending_timeout) this waits as long as it does.
  - Fails when the job ends (RV(job) says how, with its log's tail), when it waited longer than O(pending_timeout),
    or when vLLM did not answer O(ready_timeout) seconds after the job started.
options:
  name:
    description: The deployment's name (its jobs' comment is C(hpc-vllm:NAME)).
    type: str
    required: true
  directory:
    description: The deployment's job directory (its C(job.json) names the job).
    type: path
    required: true
  url:
    description: vLLM's URL on the login node, the listener of the job's reverse tunnel.
    type: str
    required: true
  model:
    description: The model vLLM must list.
    type: str
    required: true
  api_key:
    description: vLLM's API key; never shown.
    type: str
  pending_timeout:
    description: Seconds the job may wait in the queue; V(0) waits as long as it takes.
    type: int
    default: 0
  ready_timeout:
    description: Seconds from the job's start until vLLM must answer.
    type: int
    default: 1800
  interval:
    description: Seconds between two questions to the login node.
    type: int
    default: 5
  report_interval:
    description: At least every this many seconds a waiting job gets a line, even when nothing changed.
    type: int
    default: 30
  log_lines:
    description: Lines of the job's log to return when it ended.
    type: int
    default: 40
extends_documentation_fragment:
  - hpc.vllm.attributes
attributes:
  check_mode:
    support: none
    details: In check mode nothing is waited for (no job was submitted).
  diff_mode:
    support: none
    details: It changes nothing.
"""

EXAMPLES = r"""
- name: Wait until the job runs and vLLM answers through the login node
  hpc.vllm.slurm_job_wait:
    name: cluster-s
    directory: /home/jdoe/.hpc-vllm/slurm/cluster-s
    url: http://127.0.0.1:8020
    model: tiny-llama
    api_key: "{{ vllm_api_key }}"
"""

RETURN = r"""
job:
  description: The job as M(hpc.vllm.slurm_job_info) said it last.
  returned: always
  type: dict
ready:
  description: Whether vLLM answered.
  returned: always
  type: bool
pending_timed_out:
  description: Whether the job was still waiting after O(pending_timeout) seconds.
  returned: always
  type: bool
waited:
  description: Seconds waited in all, and in the queue.
  returned: always
  type: dict
"""
