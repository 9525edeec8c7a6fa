# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The wrapper a Slurm job runs vLLM through: --dtype auto becomes what the job's own GPUs allow, by the
gpu_info module's rule, with a fake nvidia-smi that answers the recorded fixtures."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import sys

import pytest

from ansible_collections.hpc.vllm.tests.unit.scripts import CHECKOUT, load_script

FIXTURES = os.path.join(CHECKOUT, 'tests', 'unit', 'fixtures', 'nvidia-smi')


@pytest.fixture
def wrapper(tmp_path, monkeypatch):
    """The service directory as vllm_server writes it: the wrapper beside its copy of the GPU rule."""
    shutil.copy(os.path.join(CHECKOUT, 'plugins', 'module_utils', '_nvidia_smi.py'), str(tmp_path / 'hpc_vllm_nvidia_smi.py'))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop('hpc_vllm_nvidia_smi', None)
    module = load_script('hpc_vllm_dtype', 'roles', 'vllm_server', 'files', 'hpc_vllm_dtype.py')
    ran = []
    monkeypatch.setattr(module.os, 'execv', lambda path, argv: ran.append(list(argv)))
    return module, ran


def fake_nvidia_smi(tmp_path, monkeypatch, fixture=None, rc=0):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    script = bin_dir / 'nvidia-smi'
    out = open(os.path.join(FIXTURES, fixture)).read() if fixture else ''
    script.write_text(u"#!/bin/sh\ncat <<'EOF'\n%sEOF\nexit %d\n" % (out, rc))
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s%s%s' % (bin_dir, os.pathsep, os.environ.get('PATH', '')))


ARGV = ['/venv/bin/python', '-m', 'vllm.entrypoints.openai.api_server', '--model', '/m', '--dtype', 'auto', '--port', '8000']


@pytest.mark.parametrize('fixture, dtype', [
    ('quadro_rtx_8000.csv', 'float16'),  # SM 7.5: no bfloat16
    ('a100_sxm4_80gb_x4.csv', 'auto'),
    ('mixed_t4_a100.csv', 'float16'),
])
def test_auto_becomes_what_the_jobs_gpus_allow(tmp_path, monkeypatch, wrapper, fixture, dtype, capsys):
    module, ran = wrapper
    fake_nvidia_smi(tmp_path, monkeypatch, fixture)
    module.main(list(ARGV))
    assert ran == [ARGV[:6] + [dtype] + ARGV[7:]]
    assert 'hpc-vllm: dtype %s for ' % dtype in capsys.readouterr().out


def test_no_gpu_answering_gives_float16(tmp_path, monkeypatch, wrapper, capsys):
    module, ran = wrapper
    fake_nvidia_smi(tmp_path, monkeypatch, None, rc=9)
    module.main(list(ARGV))
    assert ran[0][6] == 'float16'
    assert 'nvidia-smi failed (rc 9)' in capsys.readouterr().out


def test_a_dtype_given_is_left_alone(tmp_path, monkeypatch, wrapper):
    module, ran = wrapper
    fake_nvidia_smi(tmp_path, monkeypatch, 'quadro_rtx_8000.csv')
    argv = ARGV[:6] + ['bfloat16'] + ARGV[7:]
    module.main(list(argv))
    assert ran == [argv]
