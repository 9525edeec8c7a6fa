# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""What the modules that run node commands under GNU timeout share: its exit code and how a failed
command's output is cut down to one line for a message."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# GNU timeout exits with 124 when the command ran out of time.
TIMEOUT_RC = 124


def first_line(*texts):
    """The first non-blank line of the first text that has one (stderr before stdout, say)."""
    for text in texts:
        for line in (text or '').splitlines():
            if line.strip():
                return line.strip()
    return ''


def last_line(*texts):
    """The last non-blank line of the first text that has one: a Python traceback ends with the exception."""
    for text in texts:
        lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return ''


class TimedRunner(object):
    """Runs node commands under GNU timeout (when ``timeout`` > 0 and timeout exists) with ``LC_ALL=C``:
    a command stuck on a wedged driver or a hung file system must not hang the module, and the messages
    it is judged by must not be translated."""

    def __init__(self, module, timeout):
        self.module = module
        self.timeout = timeout
        self.timeout_bin = module.get_bin_path('timeout') if timeout > 0 else None

    def run(self, argv):
        if self.timeout_bin:
            # -k: a process stuck on a wedged driver may ignore SIGTERM
            argv = [self.timeout_bin, '-k', '5', str(self.timeout)] + list(argv)
        return self.module.run_command(argv, environ_update={'LC_ALL': 'C'})

    def timed_out(self, rc):
        return rc == TIMEOUT_RC and bool(self.timeout_bin)
