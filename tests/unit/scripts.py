# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Load a script of the checkout that is no module of a package (tests/*.py, lab/, a role's files/)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import os

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_script(name, *path):
    """The script at CHECKOUT/path..., loaded as a module called name; works in a checkout and in the
    ansible_collections/hpc/vllm tree that links to it."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(CHECKOUT, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
