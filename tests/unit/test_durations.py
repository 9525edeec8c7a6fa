# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/durations.py: the table of stages and slowest tests that ends tests/run."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.hpc.vllm.tests.unit.scripts import load_script

durations = load_script('hpc_vllm_durations', 'tests', 'durations.py')

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.lab.test_faults" name="test_kill_9_of_vllm" time="81.9"/>
<testcase classname="tests.lab.test_double_hop" name="test_second_run_changes_nothing" time="0.1"/>
<testcase classname="tests.lab.test_operate" name="test_teardown_then_deploy" time="240.5"><failure message="x"/></testcase>
<testcase classname="tests.lab.test_topology" name="test_users[a]" time="1.5"><skipped message="y"/></testcase>
</testsuite></testsuites>
"""


def _results(tmp_path):
    (tmp_path / 'lab.xml').write_text(JUNIT)
    (tmp_path / 'broken.xml').write_text('<testsuites><testcase')  # a run killed halfway
    (tmp_path / 'stages.tsv').write_text('unit\t(stage)\t70\tok\nlab\tlab/build\t12\tok\nlab\t(stage)\t1500\tFAILED\n')
    return tmp_path


def test_slowest_first_with_outcome_and_report(tmp_path, capsys):
    assert durations.main([str(_results(tmp_path)), '--total', '1570', '--slowest', '2']) == 0
    out = capsys.readouterr().out
    slowest = out.split('the 2 slowest tests (s)\n', 1)[1].splitlines()
    assert len(slowest) == 2
    assert 'test_teardown_then_deploy [failed]' in slowest[0] and '240.5' in slowest[0]
    assert 'test_kill_9_of_vllm [passed]' in slowest[1] and 'lab' in slowest[1]
    assert 'tests per report: lab 4' in out


def test_stages_then_their_steps_then_the_total(tmp_path, capsys):
    durations.main([str(_results(tmp_path)), '--total', '1570'])
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.startswith(('unit', 'lab', 'total'))]
    assert rows == [['unit', '70', 'ok'], ['lab', '1500', 'FAILED'], ['lab', 'lab/build', '12', 'ok'], ['total', '1570']]


def test_nothing_recorded(tmp_path, capsys):
    assert durations.main([str(tmp_path)]) == 0
    assert 'tests per report: none' in capsys.readouterr().out
