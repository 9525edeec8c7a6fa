# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.hpc.vllm.plugins.module_utils._command import first_line, last_line

TRACEBACK = 'Traceback (most recent call last):\n  File "<string>", line 1\nModuleNotFoundError: No module named vllm\n'


def test_first_line_skips_blank_text_and_lines():
    assert first_line('', None, '\n  \n  NVIDIA-SMI has failed  \nmore\n') == 'NVIDIA-SMI has failed'
    assert first_line('', None) == ''


def test_last_line_is_the_exception_of_a_traceback():
    assert last_line(TRACEBACK, 'stdout') == 'ModuleNotFoundError: No module named vllm'
    assert last_line('\n', 'only stdout\n\n') == 'only stdout'
