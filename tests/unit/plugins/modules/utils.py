# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a module's main() in-process and capture what it would have returned."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import json
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class AnsibleExitJson(Exception):
    """Raised instead of exit_json; ``result`` holds what the module returned."""

    def __init__(self, result):
        super(AnsibleExitJson, self).__init__('exit_json')
        self.result = result


class AnsibleFailJson(Exception):
    """Raised instead of fail_json; ``result`` holds msg and the other returned values."""

    def __init__(self, result):
        super(AnsibleFailJson, self).__init__(result.get('msg', 'fail_json'))
        self.result = result


def _exit_json(self, **kwargs):
    raise AnsibleExitJson(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs['failed'] = True
    kwargs['msg'] = msg
    raise AnsibleFailJson(kwargs)


@contextlib.contextmanager
def set_module_args(args):
    """Hand ``args`` to the next AnsibleModule as if the controller had sent them.

    ansible-core 2.19 decodes the arguments with a serialization profile and refuses a buffer without
    one; older cores do not know _ANSIBLE_PROFILE, so it is created there and ignored.
    """
    buffer = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    with mock.patch.object(basic, '_ANSIBLE_ARGS', buffer):
        with mock.patch.object(basic, '_ANSIBLE_PROFILE', 'legacy', create=True):
            yield


def run_module(main, args, check_mode=False):
    """Run ``main`` with ``args``; return ``(failed, result)``.

    exit_json and fail_json are replaced, so no_log masking does not happen: a secret found in the result
    is one the module put there itself.
    """
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    with set_module_args(args):
        with mock.patch.multiple(basic.AnsibleModule, exit_json=_exit_json, fail_json=_fail_json):
            failed, result = _capture(main)
    # what the controller would receive must be plain JSON
    json.dumps(result)
    return failed, result


def _capture(main):
    try:
        main()
    except AnsibleExitJson as exc:
        return False, exc.result
    except AnsibleFailJson as exc:
        return True, exc.result
    raise AssertionError('the module returned without calling exit_json or fail_json')
