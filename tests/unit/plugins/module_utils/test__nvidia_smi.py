# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import pytest

from ansible_collections.hpc.vllm.plugins.module_utils._nvidia_smi import (
    FALLBACK_QUERY_FIELDS,
    QUERY_FIELDS,
    auto_dtype,
    compute_capability_key,
    is_compute_cap_rejected,
    min_compute_capability,
    parse_query_output,
    query_argv,
)


def _gpu(index=0, name='Quadro RTX 8000', uuid='GPU-1', compute_capability='7.5',
         memory_total_mib=46080, memory_used_mib=1, driver_version='535.183.01'):
    return {
        'index': index,
        'name': name,
        'uuid': uuid,
        'compute_capability': compute_capability,
        'memory_total_mib': memory_total_mib,
        'memory_used_mib': memory_used_mib,
        'driver_version': driver_version,
    }


def test_query_argv():
    assert query_argv('/usr/bin/nvidia-smi') == [
        '/usr/bin/nvidia-smi',
        '--query-gpu=index,name,uuid,compute_cap,memory.total,memory.used,driver_version',
        '--format=csv,noheader,nounits',
    ]


def test_fallback_query_argv():
    assert query_argv('nvidia-smi', FALLBACK_QUERY_FIELDS) == [
        'nvidia-smi',
        '--query-gpu=index,name,uuid,memory.total,memory.used,driver_version',
        '--format=csv,noheader,nounits',
    ]
    assert 'compute_cap' in QUERY_FIELDS


PARSE_SUCCESS = [
    (
        '',
        QUERY_FIELDS,
        [],
    ),
    (
        '\n  \n',
        QUERY_FIELDS,
        [],
    ),
    (
        '0, Quadro RTX 8000, GPU-1, 7.5, 46080, 1, 535.183.01\n',
        QUERY_FIELDS,
        [_gpu()],
    ),
    (
        # no spaces, CRLF, blank lines around
        '\r\n0,Quadro RTX 8000,GPU-1,7.5,46080,1,535.183.01\r\n\r\n',
        QUERY_FIELDS,
        [_gpu()],
    ),
    (
        '0, NVIDIA A100-SXM4-80GB, GPU-a, 8.0, 81920, 0, 550.54.15\n'
        '1, NVIDIA A100-SXM4-80GB, GPU-b, 8.0, 81920, 72001, 550.54.15\n',
        QUERY_FIELDS,
        [
            _gpu(0, 'NVIDIA A100-SXM4-80GB', 'GPU-a', '8.0', 81920, 0, '550.54.15'),
            _gpu(1, 'NVIDIA A100-SXM4-80GB', 'GPU-b', '8.0', 81920, 72001, '550.54.15'),
        ],
    ),
    (
        # MIG mode and restricted containers give [N/A] and [Not Supported]
        '0, NVIDIA A100-SXM4-40GB, GPU-a, [N/A], [N/A], [Not Supported], [Insufficient Permissions]\n',
        QUERY_FIELDS,
        [_gpu(0, 'NVIDIA A100-SXM4-40GB', 'GPU-a', None, None, None, None)],
    ),
    (
        '0, NVIDIA B200, GPU-b, 10.0, 183359, 0, 570.86.15\n',
        QUERY_FIELDS,
        [_gpu(0, 'NVIDIA B200', 'GPU-b', '10.0', 183359, 0, '570.86.15')],
    ),
    (
        '0, Tesla V100-SXM2-32GB, GPU-v, 32510, 0, 470.256.02\n',
        FALLBACK_QUERY_FIELDS,
        [_gpu(0, 'Tesla V100-SXM2-32GB', 'GPU-v', None, 32510, 0, '470.256.02')],
    ),
]


@pytest.mark.parametrize('text, fields, expected', PARSE_SUCCESS)
def test_parse_query_output(text, fields, expected):
    assert parse_query_output(text, fields) == expected


PARSE_FAILURE = [
    (
        '0, Quadro RTX 8000, GPU-1, 7.5, 46080, 1\n',
        QUERY_FIELDS,
        'nvidia-smi line 1: expected 7 comma-separated values',
    ),
    (
        # the old-driver answer read as if it were the full query
        '0, Tesla V100-SXM2-32GB, GPU-v, 32510, 0, 470.256.02\n',
        QUERY_FIELDS,
        'expected 7 comma-separated values',
    ),
    (
        '0, Quadro RTX 8000, GPU-1, 7.5, 46080, 1, 535.183.01, extra\n',
        QUERY_FIELDS,
        'got 8',
    ),
    (
        'Field "compute_cap" is not a valid field to query.\n',
        QUERY_FIELDS,
        'nvidia-smi line 1: expected 7',
    ),
    (
        '0, Quadro RTX 8000, GPU-1, 7.5, 46080, 1, 535.183.01\n'
        'x, Quadro RTX 8000, GPU-2, 7.5, 46080, 1, 535.183.01\n',
        QUERY_FIELDS,
        "nvidia-smi line 2: index is not a number: 'x'",
    ),
    (
        '[N/A], Quadro RTX 8000, GPU-1, 7.5, 46080, 1, 535.183.01\n',
        QUERY_FIELDS,
        'index is not a number',
    ),
    (
        '0, Quadro RTX 8000, GPU-1, 7.5, 46080 MiB, 1, 535.183.01\n',
        QUERY_FIELDS,
        "memory.total is not an integer: '46080 MiB'",
    ),
    (
        '0, Quadro RTX 8000, GPU-1, sm_75, 46080, 1, 535.183.01\n',
        QUERY_FIELDS,
        "compute_cap is not MAJOR.MINOR: 'sm_75'",
    ),
]


@pytest.mark.parametrize('text, fields, message', PARSE_FAILURE)
def test_parse_query_output_fails(text, fields, message):
    with pytest.raises(ValueError) as exc:
        parse_query_output(text, fields)
    assert message in str(exc.value)


@pytest.mark.parametrize('output, expected', [
    ('Field "compute_cap" is not a valid field to query.\n\n', True),
    ('Field "memory.used" is not a valid field to query.\n', False),
    ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", False),
    ('', False),
])
def test_is_compute_cap_rejected(output, expected):
    assert is_compute_cap_rejected(output) is expected


@pytest.mark.parametrize('value, expected', [
    ('7.5', (7, 5)),
    ('9.0', (9, 0)),
    ('10.0', (10, 0)),
    ('12.1', (12, 1)),
])
def test_compute_capability_key(value, expected):
    assert compute_capability_key(value) == expected


@pytest.mark.parametrize('value', [None, '', '7', 'sm_75', '7.5.1'])
def test_compute_capability_key_fails(value):
    with pytest.raises(ValueError):
        compute_capability_key(value)


CAPABILITY_CASES = [
    # capabilities, min_compute_capability, auto_dtype
    ([], None, 'auto'),
    (['7.5'], '7.5', 'float16'),
    (['7.0'], '7.0', 'float16'),
    (['8.0'], '8.0', 'auto'),
    (['8.0', '8.0', '8.0', '8.0'], '8.0', 'auto'),
    (['9.0'], '9.0', 'auto'),
    (['7.5', '8.0'], '7.5', 'float16'),
    (['8.0', '7.5'], '7.5', 'float16'),
    # numeric, not string comparison: "10.0" < "9.0" as strings
    (['10.0', '9.0'], '9.0', 'auto'),
    (['12.0', '10.0'], '10.0', 'auto'),
    (['8.6', '8.9'], '8.6', 'auto'),
    # unknown capability: conservative float16; the minimum is over the known ones
    ([None], None, 'float16'),
    ([None, None], None, 'float16'),
    ([None, '9.0'], '9.0', 'float16'),
]


@pytest.mark.parametrize('capabilities, expected_min, expected_dtype', CAPABILITY_CASES)
def test_capabilities(capabilities, expected_min, expected_dtype):
    gpus = [_gpu(index=i, compute_capability=cc) for i, cc in enumerate(capabilities)]
    assert min_compute_capability(gpus) == expected_min
    assert auto_dtype(gpus) == expected_dtype
