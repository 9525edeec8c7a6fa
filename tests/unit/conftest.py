# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import sys

import pytest


def _collections_parent():
    """Return the directory above ``ansible_collections/hpc/vllm`` that holds this checkout, or None.

    ansible-test units puts it on sys.path. Plain pytest, run from ``<X>/ansible_collections/hpc/vllm``
    (often a symlink to the checkout, which pytest resolves), does not: look at this file's path and at
    the shell's logical working directory.
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    real_root = os.path.realpath(root)
    for start in (root, os.environ.get('PWD', '')):
        path = start
        while path and os.path.dirname(path) != path:
            if os.path.realpath(path) == real_root:
                parent = os.path.dirname(os.path.dirname(os.path.dirname(path)))
                if os.path.basename(os.path.dirname(os.path.dirname(path))) == 'ansible_collections':
                    return parent
                break
            path = os.path.dirname(path)
    return None


_PARENT = _collections_parent()
if _PARENT and _PARENT not in sys.path:
    sys.path.insert(0, _PARENT)


@pytest.fixture
def real_ansible():
    """(ansible-playbook, collections path) for tests that run a real playbook of this collection.

    ansible-playbook is the one beside the Python running the tests (the controller venv), else the one on
    PATH; the collections path is the directory that holds ansible_collections/hpc/vllm for this checkout.
    """
    beside = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    ansible_playbook = beside if os.access(beside, os.X_OK) else shutil.which('ansible-playbook')
    if not ansible_playbook or not _PARENT:
        pytest.skip('needs ansible-playbook and the collection under an ansible_collections/hpc/vllm tree')
    return ansible_playbook, _PARENT
