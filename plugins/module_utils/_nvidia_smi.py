# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Build the nvidia-smi query and turn its CSV answer into GPU facts, without running anything."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re


QUERY_FIELDS = (
    'index',
    'name',
    'uuid',
    'compute_cap',
    'memory.total',
    'memory.used',
    'driver_version',
)

# Drivers older than R510 do not know compute_cap and refuse the whole query.
FALLBACK_QUERY_FIELDS = tuple(field for field in QUERY_FIELDS if field != 'compute_cap')

QUERY_FORMAT = 'csv,noheader,nounits'

# bfloat16 needs Ampere (SM 8.0); Volta and Turing only have float16.
BFLOAT16_MIN_COMPUTE_CAPABILITY = (8, 0)

_COMPUTE_CAP_RE = re.compile(r'^(\d+)\.(\d+)$')


def query_argv(nvidia_smi, fields=QUERY_FIELDS):
    """Return the argv that asks ``nvidia_smi`` for ``fields``, one GPU a line."""
    return [
        nvidia_smi,
        '--query-gpu=%s' % ','.join(fields),
        '--format=%s' % QUERY_FORMAT,
    ]


def is_compute_cap_rejected(output):
    """Tell whether nvidia-smi's output says the driver does not know the compute_cap field.

    Such drivers print ``Field "compute_cap" is not a valid field to query.``
    """
    return 'compute_cap' in output and 'not a valid field' in output


def _is_missing(value):
    # nvidia-smi writes [N/A], [Not Supported], [Insufficient Permissions], [Unknown Error] ...
    return value == '' or (value.startswith('[') and value.endswith(']'))


def _parse_int(value, field, line_no):
    if _is_missing(value):
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError('nvidia-smi line %d: %s is not an integer: %r' % (line_no, field, value))


def _parse_compute_cap(value, line_no):
    if _is_missing(value):
        return None
    if not _COMPUTE_CAP_RE.match(value):
        raise ValueError('nvidia-smi line %d: compute_cap is not MAJOR.MINOR: %r' % (line_no, value))
    return value


def _parse_str(value):
    if _is_missing(value):
        return None
    return value


def parse_query_output(text, fields=QUERY_FIELDS):
    """Parse ``--format=csv,noheader,nounits`` output for ``fields`` (QUERY_FIELDS or FALLBACK_QUERY_FIELDS).

    Return one dict a GPU: index, name, uuid, compute_capability, memory_total_mib, memory_used_mib,
    driver_version. Values nvidia-smi cannot give (``[N/A]``, ``[Not Supported]``) become None, and so
    does compute_capability when the fields lack compute_cap. Raise ValueError on a malformed line.
    """
    fields = tuple(fields)
    gpus = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        values = [value.strip() for value in line.split(',')]
        if len(values) != len(fields):
            raise ValueError(
                'nvidia-smi line %d: expected %d comma-separated values (%s), got %d: %r'
                % (line_no, len(fields), ','.join(fields), len(values), line.strip()))
        raw = dict(zip(fields, values))
        index = raw['index']
        if not index.isdigit():
            raise ValueError('nvidia-smi line %d: index is not a number: %r' % (line_no, index))
        compute_cap = raw.get('compute_cap')
        gpus.append({
            'index': int(index),
            'name': raw['name'],
            'uuid': raw['uuid'],
            'compute_capability': None if compute_cap is None else _parse_compute_cap(compute_cap, line_no),
            'memory_total_mib': _parse_int(raw['memory.total'], 'memory.total', line_no),
            'memory_used_mib': _parse_int(raw['memory.used'], 'memory.used', line_no),
            'driver_version': _parse_str(raw['driver_version']),
        })
    return gpus


def compute_capability_key(value):
    """Turn ``"7.5"`` into ``(7, 5)`` so that ``"10.0"`` sorts above ``"9.0"``."""
    match = _COMPUTE_CAP_RE.match(value or '')
    if not match:
        raise ValueError('compute capability is not MAJOR.MINOR: %r' % (value, ))
    return int(match.group(1)), int(match.group(2))


def min_compute_capability(gpus):
    """Return the lowest known compute capability of ``gpus`` as a string, or None when none is known."""
    known = [gpu['compute_capability'] for gpu in gpus if gpu.get('compute_capability')]
    if not known:
        return None
    return min(known, key=compute_capability_key)


def auto_dtype(gpus):
    """Return the dtype vLLM should use on ``gpus`` when the user asked for ``auto``.

    ``float16`` when any GPU is below SM 8.0, else ``auto`` (vLLM then takes the model's dtype).
    """
    for gpu in gpus:
        capability = gpu.get('compute_capability')
        # An unknown capability comes from a driver too old to report it, which means old hardware is
        # likely; float16 runs everywhere, while bfloat16 on a pre-Ampere GPU makes vLLM refuse to start.
        if not capability:
            return 'float16'
        if compute_capability_key(capability) < BFLOAT16_MIN_COMPUTE_CAPABILITY:
            return 'float16'
    return 'auto'
