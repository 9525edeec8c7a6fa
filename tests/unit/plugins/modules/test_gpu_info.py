# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import os

import pytest

from ansible.module_utils import basic

from ansible_collections.hpc.vllm.plugins.modules import gpu_info
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module


FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'nvidia-smi')

DRIVER_UNREACHABLE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class FakeNode(object):
    """What the module sees of the node: which binaries exist and what nvidia-smi answers."""

    def __init__(self, tmp_path, answers, nvidia_smi=True, timeout=True):
        self.answers = list(answers)
        self.calls = []
        self.bins = {}
        for name, present in (('nvidia-smi', nvidia_smi), ('timeout', timeout)):
            if present:
                path = tmp_path / name
                path.write_text(u'#!/bin/sh\nexit 99\n')
                path.chmod(0o755)
                self.bins[name] = str(path)

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return self.bins.get(arg)

    def run_command(self, args, **kwargs):
        self.calls.append(list(args))
        rc, out_name, err = self.answers.pop(0)
        return rc, fixture(out_name) if out_name else '', err

    def run(self, monkeypatch, args=None, check_mode=False):
        # bound methods set on the class stay bound to this fake: the module instance is not passed
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', self.get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, 'run_command', self.run_command)
        return run_module(gpu_info.main, args or {}, check_mode=check_mode)


# id, answers of nvidia-smi as (rc, stdout fixture, stderr), expected result values
GPU_INFO_CASES = [
    (
        'quadro_rtx_8000',
        [(0, 'quadro_rtx_8000.csv', '')],
        {
            'available': True,
            'error': None,
            'gpu_count': 1,
            'capabilities': ['7.5'],
            'memory_total_mib': [46080],
            'min_compute_capability': '7.5',
            'auto_dtype': 'float16',
            'driver_version': '535.183.01',
            'names': ['Quadro RTX 8000'],
        },
    ),
    (
        'a100_sxm4_80gb_x4',
        [(0, 'a100_sxm4_80gb_x4.csv', '')],
        {
            'available': True,
            'error': None,
            'gpu_count': 4,
            'capabilities': ['8.0'] * 4,
            'memory_total_mib': [81920] * 4,
            'min_compute_capability': '8.0',
            'auto_dtype': 'auto',
            'driver_version': '550.54.15',
            'names': ['NVIDIA A100-SXM4-80GB'] * 4,
        },
    ),
    (
        'h100_80gb_hbm3',
        [(0, 'h100_80gb_hbm3.csv', '')],
        {
            'available': True,
            'error': None,
            'gpu_count': 1,
            'capabilities': ['9.0'],
            'memory_total_mib': [81559],
            'min_compute_capability': '9.0',
            'auto_dtype': 'auto',
            'driver_version': '560.35.03',
            'names': ['NVIDIA H100 80GB HBM3'],
        },
    ),
    (
        'mixed_t4_a100',
        [(0, 'mixed_t4_a100.csv', '')],
        {
            'available': True,
            'error': None,
            'gpu_count': 2,
            'capabilities': ['7.5', '8.0'],
            'memory_total_mib': [15360, 40960],
            'min_compute_capability': '7.5',
            'auto_dtype': 'float16',
            'driver_version': '535.161.08',
            'names': ['Tesla T4', 'NVIDIA A100-PCIE-40GB'],
        },
    ),
    (
        'old_driver_without_compute_cap',
        [(2, 'old_driver_compute_cap_rejected.txt', ''), (0, 'old_driver_fallback.csv', '')],
        {
            'available': True,
            'error': None,
            'gpu_count': 2,
            'capabilities': [None, None],
            'memory_total_mib': [32510, 32510],
            'min_compute_capability': None,
            'auto_dtype': 'float16',
            'driver_version': '470.256.02',
            'names': ['Tesla V100-SXM2-32GB'] * 2,
        },
    ),
    (
        'driver_unreachable',
        [(9, 'driver_unreachable.txt', '')],
        {
            'available': False,
            'error': 'nvidia-smi failed (rc=9): ' + DRIVER_UNREACHABLE,
            'gpu_count': 0,
            'capabilities': [],
            'memory_total_mib': [],
            'min_compute_capability': None,
            'auto_dtype': 'auto',
            'driver_version': None,
            'names': [],
        },
    ),
    (
        'driver_unreachable_on_stderr',
        [(9, None, '\n' + DRIVER_UNREACHABLE + '\n')],
        {
            'available': False,
            'error': 'nvidia-smi failed (rc=9): ' + DRIVER_UNREACHABLE,
            'gpu_count': 0,
            'capabilities': [],
            'memory_total_mib': [],
            'min_compute_capability': None,
            'auto_dtype': 'auto',
            'driver_version': None,
            'names': [],
        },
    ),
    (
        'no_devices',
        [(6, None, 'No devices were found\n')],
        {
            'available': False,
            'error': 'nvidia-smi failed (rc=6): No devices were found',
            'gpu_count': 0,
            'capabilities': [],
            'memory_total_mib': [],
            'min_compute_capability': None,
            'auto_dtype': 'auto',
            'driver_version': None,
            'names': [],
        },
    ),
    (
        'silent_failure',
        [(255, None, '')],
        {
            'available': False,
            'error': 'nvidia-smi failed (rc=255): no output',
            'gpu_count': 0,
            'capabilities': [],
            'memory_total_mib': [],
            'min_compute_capability': None,
            'auto_dtype': 'auto',
            'driver_version': None,
            'names': [],
        },
    ),
    (
        'empty_answer',
        [(0, None, '')],
        {
            'available': False,
            'error': 'nvidia-smi listed no GPU',
            'gpu_count': 0,
            'capabilities': [],
            'memory_total_mib': [],
            'min_compute_capability': None,
            'auto_dtype': 'auto',
            'driver_version': None,
            'names': [],
        },
    ),
    (
        'hung_driver',
        [(124, None, '')],
        {
            'available': False,
            'error': 'nvidia-smi did not answer within 30 seconds',
            'gpu_count': 0,
            'capabilities': [],
            'memory_total_mib': [],
            'min_compute_capability': None,
            'auto_dtype': 'auto',
            'driver_version': None,
            'names': [],
        },
    ),
]


@pytest.mark.parametrize('answers, expected', [case[1:] for case in GPU_INFO_CASES],
                         ids=[case[0] for case in GPU_INFO_CASES])
def test_gpu_info(tmp_path, monkeypatch, answers, expected):
    node = FakeNode(tmp_path, answers)
    failed, result = node.run(monkeypatch)

    assert not failed
    assert result['changed'] is False
    assert result['available'] is expected['available']
    assert result['error'] == expected['error']
    assert result['nvidia_smi'] == node.bins['nvidia-smi']
    assert result['gpu_count'] == expected['gpu_count'] == len(result['gpus'])
    assert [gpu['compute_capability'] for gpu in result['gpus']] == expected['capabilities']
    assert [gpu['memory_total_mib'] for gpu in result['gpus']] == expected['memory_total_mib']
    assert [gpu['name'] for gpu in result['gpus']] == expected['names']
    assert [gpu['index'] for gpu in result['gpus']] == list(range(expected['gpu_count']))
    assert result['min_compute_capability'] == expected['min_compute_capability']
    assert result['auto_dtype'] == expected['auto_dtype']
    assert result['driver_version'] == expected['driver_version']
    assert not node.answers, 'nvidia-smi was asked fewer times than expected'


def test_full_query_then_fallback(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, [(2, 'old_driver_compute_cap_rejected.txt', ''), (0, 'old_driver_fallback.csv', '')])
    node.run(monkeypatch)
    timeout_prefix = [node.bins['timeout'], '-k', '5', '30', node.bins['nvidia-smi']]
    assert node.calls == [
        timeout_prefix + ['--query-gpu=index,name,uuid,compute_cap,memory.total,memory.used,driver_version',
                          '--format=csv,noheader,nounits'],
        timeout_prefix + ['--query-gpu=index,name,uuid,memory.total,memory.used,driver_version',
                          '--format=csv,noheader,nounits'],
    ]


def test_gpu_fields(tmp_path, monkeypatch):
    failed, result = FakeNode(tmp_path, [(0, 'a100_sxm4_80gb_x4.csv', '')]).run(monkeypatch)
    assert result['gpus'][3] == {
        'index': 3,
        'name': 'NVIDIA A100-SXM4-80GB',
        'uuid': 'GPU-3d9e4f5a-6b7c-8d9e-0f1a-2b3c4d5e6f73',
        'compute_capability': '8.0',
        'memory_total_mib': 81920,
        'memory_used_mib': 72001,
        'driver_version': '550.54.15',
    }


def test_no_nvidia_smi(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, [], nvidia_smi=False)
    failed, result = node.run(monkeypatch)
    assert not failed
    assert result == {
        'changed': False,
        'available': False,
        'error': 'nvidia-smi not found in PATH or /usr/bin',
        'nvidia_smi': None,
        'gpus': [],
        'gpu_count': 0,
        'min_compute_capability': None,
        'auto_dtype': 'auto',
        'driver_version': None,
    }
    assert node.calls == []


def test_nvidia_smi_path_not_executable(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, [])
    missing = str(tmp_path / 'opt' / 'nvidia-smi')
    failed, result = node.run(monkeypatch, {'nvidia_smi_path': missing})
    assert not failed
    assert result['available'] is False
    assert result['error'] == '%s is not an executable file' % missing
    assert result['nvidia_smi'] is None
    assert node.calls == []


def test_nvidia_smi_path(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, [(0, 'h100_80gb_hbm3.csv', '')])
    own = tmp_path / 'own-nvidia-smi'
    own.write_text(u'#!/bin/sh\n')
    own.chmod(0o755)
    failed, result = node.run(monkeypatch, {'nvidia_smi_path': str(own)})
    assert result['nvidia_smi'] == str(own)
    assert node.calls[0][4] == str(own)


@pytest.mark.parametrize('args, timeout_present, prefix', [
    ({}, True, ['<timeout>', '-k', '5', '30']),
    ({'timeout': 120}, True, ['<timeout>', '-k', '5', '120']),
    ({'timeout': 0}, True, []),
    ({}, False, []),
])
def test_timeout_wrapper(tmp_path, monkeypatch, args, timeout_present, prefix):
    node = FakeNode(tmp_path, [(0, 'quadro_rtx_8000.csv', '')], timeout=timeout_present)
    failed, result = node.run(monkeypatch, args)
    assert result['available'] is True
    prefix = [node.bins.get('timeout') if part == '<timeout>' else part for part in prefix]
    assert node.calls[0][:len(prefix) + 1] == prefix + [node.bins['nvidia-smi']]


def test_rc_124_without_timeout_command_is_a_plain_failure(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, [(124, None, 'odd\n')], timeout=False)
    failed, result = node.run(monkeypatch)
    assert result['error'] == 'nvidia-smi failed (rc=124): odd'


def test_negative_timeout_fails(tmp_path, monkeypatch):
    failed, result = FakeNode(tmp_path, []).run(monkeypatch, {'timeout': -1})
    assert failed
    assert result['msg'] == 'timeout must be 0 (no limit) or a positive number of seconds, got -1'


def test_unparsable_output_fails(tmp_path, monkeypatch):
    node = FakeNode(tmp_path, [(0, 'old_driver_fallback.csv', '')])
    failed, result = node.run(monkeypatch)
    assert failed
    assert result['msg'].startswith('cannot parse the output of %s: nvidia-smi line 1: expected 7' % node.bins['nvidia-smi'])
    assert result['available'] is False
    assert result['stdout'] == fixture('old_driver_fallback.csv')


def test_check_mode(tmp_path, monkeypatch):
    failed, result = FakeNode(tmp_path, [(0, 'mixed_t4_a100.csv', '')]).run(monkeypatch, check_mode=True)
    assert not failed
    assert result['changed'] is False
    assert result['gpu_count'] == 2
