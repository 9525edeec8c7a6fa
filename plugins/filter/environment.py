# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a service's environment file (one ``NAME=value`` a line, read by systemd and by the standalone
supervisor) cannot hold: the vllm_server role checks its variables with it before any host changes. The
rules live in module_utils/_supervised_service.py, where the module that writes the file applies them too.

A filter rather than a regular expression in the tasks: a backslash escape means one thing in a template
and another in a conditional, so a line break is easy to get wrong there.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.hpc.vllm.plugins.module_utils import _supervised_service


def env_file_problems(environment):
    """``{'bad_names': [...], 'bad_values': [...]}``: the names that are no environment variable names, and the
    names whose value has a line break or a NUL byte (never the values: they may be secrets)."""
    if not isinstance(environment, dict):
        raise AnsibleFilterError('env_file_problems needs a dict of NAME: value, got %s' % type(environment).__name__)
    return _supervised_service.env_file_problems(environment)


class FilterModule(object):
    def filters(self):
        return {'env_file_problems': env_file_problems}
