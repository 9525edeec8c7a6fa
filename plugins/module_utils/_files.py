# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Writing files the way the modules supervised_service and file_set do: compared first, so that a re-run
reports no change; written to a temporary file with its final mode and renamed, so that no reader sees half
a file and no secret is ever readable by others."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import tempfile


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


class FileChanges(object):
    """What the modules supervised_service and file_set do to files, and what they report of it: every path
    made, written, chmod-ed or removed in ``changed``, and in ``diff`` the before and after of every written
    file that is not secret. In check mode nothing is touched and the same is reported."""

    def __init__(self, check_mode=False, diff_mode=False):
        self.check_mode = check_mode
        self.diff_mode = diff_mode
        self.changed = []
        self.diff = []

    def directory(self, path, mode):
        if make_directory(path, mode, self.check_mode):
            self.changed.append(path)
            return True
        return False

    def file(self, path, content, mode, secret=False):
        written, before = write_file(path, content, mode, self.check_mode)
        if written:
            self.changed.append(path)
            if self.diff_mode and not secret:
                self.diff.append(dict(before_header=path, after_header=path, before=before or '', after=content))
        return written

    def absent(self, path):
        if remove_file(path, self.check_mode):
            self.changed.append(path)
            return True
        return False
