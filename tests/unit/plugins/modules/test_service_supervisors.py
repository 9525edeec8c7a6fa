# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run hpc.vllm.service_supervisors on this machine, and on a made-up systemd host for the choices that
need one (a user manager that runs, lingering, root)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.facts.system.user import UserFactCollector

from ansible_collections.hpc.vllm.plugins.modules import service_supervisors
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module


def test_standalone_always_works_and_the_user_facts_are_setup_s():
    failed, result = run_module(service_supervisors.main, {})
    assert not failed and not result['changed']
    assert list(result['supervisors']) == ['systemd', 'systemd_user', 'standalone']
    assert result['supervisors']['standalone'] is True
    assert result['ansible_facts'] == UserFactCollector().collect()


@pytest.mark.parametrize('uid, systemd_host, lingers, answer, expected, asked', [
    (0, True, False, None, {'systemd': True, 'systemd_user': False}, False),
    (0, False, False, None, {'systemd': False, 'systemd_user': False}, False),
    (1000, True, True, 'running', {'systemd': False, 'systemd_user': True}, True),
    (1000, True, True, 'degraded', {'systemd': False, 'systemd_user': True}, True),
    # the manager is gone when the user is not logged in and does not linger: not even asked
    (1000, True, False, None, {'systemd': False, 'systemd_user': False}, False),
    (1000, True, True, 'offline', {'systemd': False, 'systemd_user': False}, True),
    (1000, False, True, None, {'systemd': False, 'systemd_user': False}, False),
])
def test_the_choices_on_a_systemd_host(monkeypatch, uid, systemd_host, lingers, answer, expected, asked):
    calls = []
    real_isdir, real_exists = os.path.isdir, os.path.exists
    monkeypatch.setattr(os, 'getuid', lambda: uid)
    monkeypatch.setattr(service_supervisors, 'user_facts', lambda: {'user_id': 'alice', 'user_uid': uid})
    monkeypatch.setattr(os.path, 'isdir', lambda path: systemd_host if path == '/run/systemd/system'
                        else real_isdir(path))
    monkeypatch.setattr(os.path, 'exists', lambda path: lingers if path == '/var/lib/systemd/linger/alice'
                        else real_exists(path))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, name, *a, **k: '/usr/bin/' + name)

    def run_command(self, argv, environ_update=None, **kwargs):
        calls.append((argv, environ_update))
        return 0 if answer == 'running' else 1, answer + '\n', ''
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)

    failed, result = run_module(service_supervisors.main, {})
    assert not failed
    assert result['supervisors'] == dict(expected, standalone=True)
    assert calls == ([(['/usr/bin/systemctl', '--user', 'is-system-running'],
                       {'XDG_RUNTIME_DIR': '/run/user/%d' % uid})] if asked else [])
    assert result['user_manager'] == (answer if asked else None)
