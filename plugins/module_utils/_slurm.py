# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""What the Slurm deployments need to know of Slurm's own notation, without Slurm: time limits as sbatch
takes them, the one-line records of ``scontrol -o show job|partition``, and the states a job ends in.

Everything here is pure and runs on the controller (checks before any host changes) and on the login node
(the module that keeps the job).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

# sbatch --time: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
# "days-hours:minutes" and "days-hours:minutes:seconds" (sbatch(1), "-t, --time").
_TIME = re.compile(r'^(?:(?P<days>\d+)-(?P<dh>\d+)(?::(?P<dm>\d+)(?::(?P<ds>\d+))?)?'
                   r'|(?P<a>\d+)(?::(?P<b>\d+)(?::(?P<c>\d+))?)?)$')
UNLIMITED = ('UNLIMITED', 'INFINITE')

# Job states (squeue(1), "JOB STATE CODES"), by what they mean for a deployment.
WAITING = ('PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SUSPENDED',
           'STOPPED', 'RESIZING')
RUNNING = ('RUNNING', 'COMPLETING', 'SIGNALING', 'STAGE_OUT')
ENDED = ('BOOT_FAIL', 'CANCELLED', 'COMPLETED', 'DEADLINE', 'FAILED', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED',
         'REVOKED', 'SPECIAL_EXIT', 'TIMEOUT')


def time_limit_seconds(text):
    """Seconds of a Slurm time limit, None for UNLIMITED; ValueError for what sbatch would refuse."""
    value = str(text).strip()
    if value.upper() in UNLIMITED:
        return None
    match = _TIME.match(value)
    if not match:
        raise ValueError('%r is no Slurm time limit; use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS'
                         % (text, ))
    part = dict((key, int(number)) for key, number in match.groupdict().items() if number is not None)
    if 'days' in part:
        seconds = part['days'] * 86400 + part['dh'] * 3600 + part.get('dm', 0) * 60 + part.get('ds', 0)
    elif 'c' in part:
        seconds = part['a'] * 3600 + part['b'] * 60 + part['c']
    elif 'b' in part:
        seconds = part['a'] * 60 + part['b']
    else:
        seconds = part['a'] * 60
    if seconds == 0:
        raise ValueError('%r is a time limit of 0 seconds' % (text, ))
    return seconds


def format_seconds(seconds):
    """Seconds as Slurm writes a time: D-HH:MM:SS, or HH:MM:SS under a day; UNLIMITED for None."""
    if seconds is None:
        return 'UNLIMITED'
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = '%02d:%02d:%02d' % (hours, minutes, secs)
    return '%d-%s' % (days, clock) if days else clock


def parse_record(line):
    """One record of ``scontrol -o show job`` or ``show partition``: ``Key=value`` pairs on one line.

    A value may hold spaces where Slurm writes them (``Reason=...``, ``Comment=...``, ``Command=...``): a
    word without ``=`` belongs to the value before it.
    """
    record, key = {}, None
    for word in line.strip().split(' '):
        name, sep, value = word.partition('=')
        if sep and re.match(r'^[A-Za-z][A-Za-z0-9_:/]*$', name):
            key = name
            record[key] = value
        elif key is not None:
            record[key] += ' ' + word
    # scontrol pads some values (two blanks after Comment=...)
    return dict((name, value.strip()) for name, value in record.items())


def parse_records(text):
    """Every record of ``scontrol -o show ...`` output, one a line."""
    return [parse_record(line) for line in text.splitlines() if line.strip()]


def state_of(record):
    """The job's state without the reason Slurm may add (``CANCELLED by 1500`` -> ``CANCELLED``)."""
    return record.get('JobState', '').split(' ')[0].split('+')[0]


def is_waiting(state):
    return state in WAITING


def is_running(state):
    return state in RUNNING


def has_ended(state):
    return state in ENDED


def partition_time_limit(record):
    """The limit a job gets in a partition without --time: its DefaultTime, else its MaxTime.

    Returns ``(seconds or None, where)``: None when both are UNLIMITED (or NONE, as Slurm writes an unset
    DefaultTime), with ``where`` naming the field that decided.
    """
    for field in ('DefaultTime', 'MaxTime'):
        value = record.get(field, 'NONE')
        if value.upper() in ('NONE', '') or value.upper() in UNLIMITED:
            continue
        return time_limit_seconds(value), field
    return None, 'UNLIMITED'


# sbatch's long options that take a value or none (sbatch(1), Slurm 22.05), for the check of the extra
# options a deployment adds. Those the job script sets itself are refused there: the deployment needs them
# as they are (its output file, its signal before the end, its one node and task).
SBATCH_OPTIONS = frozenset((
    'account', 'acctg-freq', 'array', 'batch', 'bb', 'bbf', 'begin', 'chdir', 'cluster-constraint', 'clusters',
    'comment', 'constraint', 'container', 'contiguous', 'core-spec', 'cores-per-socket', 'cpu-freq',
    'cpus-per-gpu', 'cpus-per-task', 'deadline', 'delay-boot', 'dependency', 'distribution', 'error', 'exclude',
    'exclusive', 'export', 'export-file', 'extra-node-info', 'get-user-env', 'gid', 'gpu-bind', 'gpu-freq',
    'gpus', 'gpus-per-node', 'gpus-per-socket', 'gpus-per-task', 'gres', 'gres-flags', 'hint', 'hold',
    'ignore-pbs', 'input', 'job-name', 'kill-on-invalid-dep', 'licenses', 'mail-type', 'mail-user', 'mcs-label',
    'mem', 'mem-bind', 'mem-per-cpu', 'mem-per-gpu', 'mincpus', 'network', 'nice', 'no-kill', 'no-requeue',
    'nodefile', 'nodelist', 'nodes', 'ntasks', 'ntasks-per-core', 'ntasks-per-gpu', 'ntasks-per-node',
    'ntasks-per-socket', 'open-mode', 'output', 'overcommit', 'oversubscribe', 'parsable', 'partition', 'power',
    'prefer', 'priority', 'profile', 'propagate', 'qos', 'quiet', 'reboot', 'requeue', 'reservation', 'signal',
    'sockets-per-node', 'spread-job', 'switches', 'test-only', 'thread-spec', 'threads-per-core', 'time',
    'time-min', 'tmp', 'uid', 'use-min-nodes', 'verbose', 'wait', 'wait-all-nodes', 'wckey', 'wrap',
))
# What the job script must decide: one node, one task, its own output and signal, and what it runs.
SBATCH_RESERVED = frozenset(('array', 'chdir', 'error', 'job-name', 'nodes', 'ntasks', 'output', 'parsable',
                             'signal', 'wait', 'wrap', 'test-only', 'hold', 'comment'))


def extra_option_problems(options):
    """What is wrong with a deployment's extra sbatch options, as sentences: each must be one long option
    ``--name`` or ``--name=value`` that sbatch knows and that the job script does not set itself."""
    problems = []
    for index, option in enumerate(options):
        match = re.match(r'^--([a-z][a-z0-9-]*)(=.*)?$', str(option))
        if not match:
            problems.append('slurm_extra_options[%d] must be one long option, --name or --name=value (got %r).'
                            % (index, option))
        elif match.group(1) not in SBATCH_OPTIONS:
            problems.append('slurm_extra_options[%d]: sbatch has no option --%s.' % (index, match.group(1)))
        elif match.group(1) in SBATCH_RESERVED:
            problems.append('slurm_extra_options[%d]: --%s is set by the deployment\'s job script; use its own '
                            'variable if there is one (slurm_job_name, slurm_time, ...).' % (index, match.group(1)))
    return problems


# sbatch's messages when it refuses a job, and the options each one is about (Slurm 22.05's wording, as
# "sbatch: error: ..." shows it, lowercased). "Requested node configuration is not available" is about what
# no node has: GPUs, CPUs, memory or features.
_REFUSALS = (
    ('invalid partition', ('partition', )),
    ('invalid account', ('account', )),
    ('invalid qos', ('qos', )),
    ('time limit', ('time', )),
    ('invalid generic resource', ('gres', 'gpus')),
    ('invalid gres', ('gres', 'gpus')),
    ('invalid feature', ('constraint', )),
    ('reservation', ('reservation', )),
    ('memory specification', ('mem', )),
    ('node configuration is not available', ('gres', 'gpus', 'cpus-per-task', 'mem', 'constraint')),
)


def refused_options(message):
    """The sbatch options a refusal is about (``('partition',)``, ...), () when its message does not say."""
    text = (message or '').lower()
    for words, options in _REFUSALS:
        if words in text:
            return options
    return ()
