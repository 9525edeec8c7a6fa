# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real ssh-keygen, in a temporary directory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

from ansible_collections.hpc.vllm.plugins.modules import tunnel_key_pairs
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def run(directory, names, direction='reverse', check_mode=False):
    return run_module(tunnel_key_pairs.main, {'directory': str(directory), 'direction': direction, 'names': names},
                      check_mode=check_mode)


def test_makes_each_pair_once_and_returns_the_public_halves(tmp_path):
    keys = tmp_path / 'tunnels'
    failed, first = run(keys, ['cluster_a', 'cluster_b'], direction='forward')
    assert not failed, first
    assert first['changed'] is True
    for name in ('cluster_a', 'cluster_b'):
        private = keys / name / 'forward_ed25519'
        assert mode(keys / name) == 0o700 and mode(private) == 0o600
        assert first['public_keys'][name] == (keys / name / 'forward_ed25519.pub').read_text().strip()
        assert first['public_keys'][name].startswith('ssh-ed25519 AAAA')
        # the marker that tells in authorized_keys whose key it is
        assert first['public_keys'][name].endswith(' hpc-vllm:%s:forward' % name)
        assert 'PRIVATE KEY' in private.read_text()
    assert set(first['files_changed']) == {str(keys / n) for n in ('cluster_a', 'cluster_b')} | {
        str(keys / n / 'forward_ed25519') for n in ('cluster_a', 'cluster_b')}

    failed, second = run(keys, ['cluster_a', 'cluster_b'], direction='forward')
    assert not failed
    assert second == {'changed': False, 'public_keys': first['public_keys'], 'files_changed': []}


def test_check_mode_makes_nothing(tmp_path):
    keys = tmp_path / 'tunnels'
    failed, result = run(keys, ['cluster_a'], check_mode=True)
    assert not failed
    assert result['changed'] is True and result['public_keys'] == {'cluster_a': ''}
    assert not keys.exists()


def test_a_lost_public_half_comes_back_from_the_same_private_key(tmp_path):
    keys = tmp_path / 'tunnels'
    dummy, first = run(keys, ['cluster_a'])
    public = keys / 'cluster_a' / 'reverse_ed25519.pub'
    public.unlink()
    os.chmod(str(keys / 'cluster_a'), 0o755)

    failed, second = run(keys, ['cluster_a'])

    assert not failed, second
    assert second['changed'] is True
    assert second['files_changed'] == [str(keys / 'cluster_a'), str(keys / 'cluster_a' / 'reverse_ed25519')]
    # the same key, which the login nodes may already authorize
    assert second['public_keys']['cluster_a'].split()[:2] == first['public_keys']['cluster_a'].split()[:2]
    assert mode(keys / 'cluster_a') == 0o700


def test_bad_names_fail_before_anything_is_made(tmp_path):
    failed, result = run(tmp_path / 'tunnels', ['ok', '../etc', 'A'])
    assert failed
    assert result['msg'] == "names must match [a-z0-9_-]+, got '../etc', 'A'"
    assert not (tmp_path / 'tunnels').exists()
