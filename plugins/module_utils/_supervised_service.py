# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The environment file of a supervised service and its rules, for the module hpc.vllm.supervised_service
and the filter hpc.vllm.env_file_problems (which checks the variables before any host changes)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
# A line-based file ends a value at a line break; NUL ends it in C.
BREAKS = re.compile(u'[\r\n\x00\x0b\x0c\x85\u2028\u2029]')


def env_file_problems(environment):
    """``{'bad_names': [...], 'bad_values': [...]}``: the names that are no environment variable names, and
    the names whose value has a line break or a NUL byte (never the values: they may be secrets)."""
    names = sorted(str(name) for name in environment if not NAME.match(str(name)))
    values = sorted(str(name) for name, value in environment.items()
                    if value is not None and BREAKS.search(str(value)))
    return {'bad_names': names, 'bad_values': values}


def env_file_content(environment, header=''):
    """The environment file: the header, then one ``NAME=value`` a line, sorted by name; a value of None is
    written empty. run.sh reads it line by line and never lets the shell evaluate it."""
    lines = [header.rstrip('\n')] if header else []
    lines += ['%s=%s' % (name, '' if value is None else value) for name, value in sorted(environment.items())]
    return '\n'.join(lines) + '\n'
