# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lab/bench/bench.py: the parts of its measurements that need no lab."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.hpc.vllm.tests.unit.scripts import load_script

bench = load_script('hpc_vllm_bench', 'lab', 'bench', 'bench.py')
TICK = os.sysconf('SC_CLK_TCK')


def test_ssh_cpu_is_summed_per_process_and_never_negative():
    # the tunnels' ssh and sshd live throughout; a short-lived sshd ended in between and a new one started
    before = {('100', '5'): 40 * TICK, ('200', '6'): 10 * TICK, ('300', '7'): 30 * TICK}
    after = {('100', '5'): 41 * TICK, ('200', '6'): 12 * TICK, ('400', '9'): TICK}
    # totals alone would say 54 - 80 = -26 s
    assert bench.tunnel_cpu_seconds(before, after) == 4.0


def test_a_reused_pid_is_another_process():
    before = {('100', '5'): 40 * TICK}
    after = {('100', '77'): 2 * TICK}
    assert bench.tunnel_cpu_seconds(before, after) == 2.0
