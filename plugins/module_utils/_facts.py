# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The user and Python facts the roles read, named and shaped as ansible.builtin.setup's ``user`` and
``python`` subsets name them. The modules that run first on a host (node_diagnostics in every deploy,
service_supervisors in every role that keeps a service) return them, so that the roles' own fact
gathering, which runs only when they are missing, costs no round trip to the node in a deploy."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import pwd
import sys

try:
    from ssl import create_default_context  # noqa: F401  pylint: disable=unused-import
    HAS_SSLCONTEXT = True
except ImportError:
    HAS_SSLCONTEXT = False


def user_facts():
    entry = pwd.getpwuid(os.getuid())
    return {
        'user_id': entry.pw_name,
        'user_uid': entry.pw_uid,
        'user_gid': entry.pw_gid,
        'user_gecos': entry.pw_gecos,
        'user_dir': entry.pw_dir,
        'user_shell': entry.pw_shell,
        'real_user_id': os.getuid(),
        'effective_user_id': os.geteuid(),
        'real_group_id': os.getgid(),
        'effective_group_id': os.getegid(),
    }


def python_facts():
    info = sys.version_info
    return {
        'python': {
            'version': {'major': info[0], 'minor': info[1], 'micro': info[2], 'releaselevel': info[3],
                        'serial': info[4]},
            'version_info': list(info),
            'executable': sys.executable,
            'has_sslcontext': HAS_SSLCONTEXT,
            'type': getattr(getattr(sys, 'implementation', None), 'name', 'cpython'),
        },
    }
