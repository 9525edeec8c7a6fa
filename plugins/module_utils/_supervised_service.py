# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The files of one supervised service and the environment file's rules, for the module
hpc.vllm.supervised_service and the filter hpc.vllm.env_file_problems.

One call writes every file of a service and says which changed: a re-run that changes nothing then
costs one task per service instead of one per file.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import stat
import tempfile

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


def _read(path):
    """(content bytes, permission bits) of ``path``, or (None, None) when it does not exist."""
    try:
        with open(path, 'rb') as handle:
            content = handle.read()
        return content, stat.S_IMODE(os.stat(path).st_mode)
    except (IOError, OSError):
        if os.path.lexists(path) and not os.path.isfile(path):
            raise ValueError('%s exists and is no regular file' % path)
        return None, None


def write_file(path, content, mode, check_mode=False):
    """Make ``path`` hold ``content`` (text) with permission bits ``mode`` (an int). Returns
    ``(changed, before)``, ``before`` being the old text or None. The new content is written to a temporary
    file beside it and renamed over it, so that a reader (or a crash) never sees half a file; the
    temporary file has ``mode`` from its creation on, so that a secret is never readable by others."""
    data = content.encode('utf-8')
    before, before_mode = _read(path)
    if before == data:
        if before_mode == mode:
            return False, before.decode('utf-8', 'replace')
        if not check_mode:
            os.chmod(path, mode)
        return True, before.decode('utf-8', 'replace')
    if not check_mode:
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=os.path.dirname(path))
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
            os.rename(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return True, None if before is None else before.decode('utf-8', 'replace')


def make_directory(path, mode, check_mode=False):
    """Make ``path`` a directory with permission bits ``mode``; its missing parents get the umask's
    default, as ``mkdir -p`` gives them. Returns whether anything changed."""
    if os.path.isdir(path):
        if stat.S_IMODE(os.stat(path).st_mode) == mode:
            return False
        if not check_mode:
            os.chmod(path, mode)
        return True
    if os.path.lexists(path):
        raise ValueError('%s exists and is no directory' % path)
    if not check_mode:
        parent = os.path.dirname(path.rstrip('/'))
        if parent and not os.path.isdir(parent):
            os.makedirs(parent)
        os.mkdir(path)
        os.chmod(path, mode)
    return True


def remove_file(path, check_mode=False):
    """Remove ``path`` if it exists; returns whether it did."""
    if not os.path.lexists(path):
        return False
    if not check_mode:
        os.unlink(path)
    return True
