# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a service's environment file (one ``NAME=value`` a line, read by systemd and by the standalone
supervisor) cannot hold, in one place: the vllm_server role checks its variables with it before any host
changes, and the _service role checks every environment it writes.

A filter rather than a regular expression in the tasks: a backslash escape means one thing in a template
and another in a conditional, so a line break is easy to get wrong there.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
# A line-based file ends a value at a line break; NUL ends it in C.
BREAKS = re.compile(r'[\r\n\x00\x0b\x0c\x85\u2028\u2029]')


def env_file_problems(environment):
    """``{'bad_names': [...], 'bad_values': [...]}``: the names that are no environment variable names, and the
    names whose value has a line break or a NUL byte (never the values: they may be secrets)."""
    if not isinstance(environment, dict):
        raise AnsibleFilterError('env_file_problems needs a dict of NAME: value, got %s' % type(environment).__name__)
    names = sorted(str(name) for name in environment if not NAME.match(str(name)))
    values = sorted(str(name) for name, value in environment.items()
                    if value is not None and BREAKS.search(str(value)))
    return {'bad_names': names, 'bad_values': values}


class FilterModule(object):
    def filters(self):
        return {'env_file_problems': env_file_problems}
