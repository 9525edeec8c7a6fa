# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Read sshd's forwarding settings from its config files, as an unprivileged user can.

`sshd -T` needs root, so this follows sshd's own rules as far as files are readable: Include is
expanded where it stands (globs in lexical order, relative paths under /etc/ssh), the first value
of a keyword wins, and lines after a Match apply only to some connections, so they are reported
apart. Never fails on unreadable files: it lists them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import io
import os
import shlex

KEYWORDS = ('allowtcpforwarding', 'disableforwarding', 'allowstreamlocalforwarding', 'authorizedkeysfile')
MAX_DEPTH = 16


def _read(path, in_match, depth, out):
    try:
        with io.open(path, encoding='utf-8', errors='replace') as f:
            lines = f.readlines()
    except OSError as e:
        out['unreadable'].append('%s (%s)' % (path, e.strerror))
        return
    out['files_read'].append(path)
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        try:
            words = shlex.split(line.replace('=', ' ', 1) if '=' in line.split()[0] else line)
        except ValueError:
            continue
        if not words:
            continue
        keyword, args = words[0].lower(), words[1:]
        if keyword == 'match':
            in_match = True
            continue
        if keyword == 'include' and depth < MAX_DEPTH:
            for pattern in args:
                pattern = pattern if os.path.isabs(pattern) else os.path.join('/etc/ssh', pattern)
                matches = sorted(glob.glob(pattern))
                if not matches and glob.has_magic(pattern) and not os.access(os.path.dirname(pattern), os.R_OK):
                    out['unreadable'].append('%s (directory not readable)' % pattern)
                for included in matches:
                    _read(included, in_match, depth + 1, out)
            continue
        if keyword not in KEYWORDS or not args:
            continue
        where = '%s:%d' % (path, number)
        value = ' '.join(args) if keyword == 'authorizedkeysfile' else args[0].lower()
        if in_match:
            out['match'].append({'keyword': keyword, 'value': value, 'where': where})
        elif keyword not in out['settings']:
            out['settings'][keyword] = {'value': value, 'where': where}


def forwarding_settings(path='/etc/ssh/sshd_config'):
    """What ``path`` and the files it includes say about forwarding: ``settings`` (keyword -> value and
    where it is set), ``match`` (the same keywords inside Match blocks), ``files_read`` and ``unreadable``."""
    out = {'files_read': [], 'unreadable': [], 'settings': {}, 'match': []}
    _read(path, False, 0, out)
    return out
