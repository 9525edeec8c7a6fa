# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
name: jsonl_audit
type: aggregate
short_description: Append an audit trail of each run to a file, one JSON object a line
version_added: 0.1.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Appends one JSON object a line to a file for the start and the end of each playbook run and for the result of
    every task on every host (and of every loop item), so that a user or an auditor can see what was done, where,
    by whom and with what outcome without reading the output of Ansible.
  - Every record has C(ts) (ISO 8601, UTC, milliseconds), C(event), C(run_id) (a random UUID per run) and C(pid).
  - C(run_start) adds C(playbook), C(user), C(inventory), C(check_mode), C(ansible_version), C(collection_version)
    and C(python_version).
  - C(task_result) (one per task and host) and C(item_result) (one per loop item) add C(host), C(play), C(task),
    C(action), C(status) (one of V(ok), V(changed), V(failed), V(ignored) for a failure under C(ignore_errors),
    V(skipped), V(unreachable); a failed loop item is V(failed) even under C(ignore_errors)), C(changed),
    C(duration_s) (for a loop item, since the item before it ended), a short C(msg) (the message of the result, with the
    tail of its stderr or stdout), C(item) for loop items, C(delegated_to) when delegated and C(diagnostics) when
    the result has such a dictionary (as the module C(hpc.vllm.node_diagnostics) returns).
  - Of a result hidden by C(no_log), only its status, C(changed), its duration and a fixed C(msg) are written.
  - C(run_end) adds C(duration_s), C(hosts) (per host V(ok), V(changed), V(failed), V(unreachable), V(skipped),
    V(rescued) and V(ignored)) and C(status) (V(failed) if a host failed or was unreachable, else V(ok)).
  - The values of the variables named in O(secret_variables) are replaced by C(********) in every string of every
    record, even where a task prints them without C(no_log).
  - Each line is written at once under an exclusive C(flock), so that runs writing to the same file in parallel do
    not interleave their lines. The file is created with mode C(0600), its directory if missing. A failure to write
    is reported once as a warning and does not stop the run.
requirements:
  - Enabled in C(ansible.cfg) (C(callbacks_enabled = hpc.vllm.jsonl_audit) in section C([defaults])) or with
    E(ANSIBLE_CALLBACKS_ENABLED=hpc.vllm.jsonl_audit). It runs beside the stdout callback.
options:
  path:
    description:
      - File the records are appended to.
      - A relative path from the environment or the default is relative to the current directory; one in
        C(ansible.cfg) is relative to the directory of that file, as for every path setting of Ansible.
    type: path
    default: enterprise.jsonl
    env:
      - name: HPC_VLLM_AUDIT_LOG
    ini:
      - section: callback_jsonl_audit
        key: path
  secret_variables:
    description:
      - Names of variables whose values are redacted wherever they appear in a record.
      - The values are read for every host of the inventory when a play starts (inventory, play, role defaults,
        C(vars_files), extra vars; templates rendered and vaulted values decrypted), for a task that sets one of
        these variables in its own C(vars) or as a role parameter when it starts, and again for a host after its
        C(set_fact) or C(include_vars). Every string of such a value (of a list or dictionary too) that is at least
        8 characters long is redacted.
    type: list
    elements: str
    default:
      - vllm_api_key
    env:
      - name: HPC_VLLM_AUDIT_SECRET_VARIABLES
    ini:
      - section: callback_jsonl_audit
        key: secret_variables
notes:
  - A value that a task builds from a secret (encoded, split or hashed) is not recognized; a registered result is not
    a secret variable. Tasks that handle secrets still need C(no_log).
  - When one C(ansible-playbook) command runs several playbooks, each gets its own C(run_start) and C(run_end).
  - A run that Ansible aborts before its recap (an error in the playbook, an interrupt) has no C(run_end).
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = hpc.vllm.jsonl_audit
#
# [callback_jsonl_audit]
# path = /var/log/hpc-vllm/audit.jsonl
# secret_variables = vllm_api_key, forward_tunnel_api_keys
"""

import datetime
import fcntl
import getpass
import json
import os
import platform
import time
import uuid

from ansible import context
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.common.yaml import yaml_load
from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_version
from ansible.template import Templar

REDACTED = '********'
MIN_SECRET_LENGTH = 8
MSG_LIMIT = 2000
ITEM_LIMIT = 200
NO_LOG_MSG = "the output has been hidden due to 'no_log: true'"

# Actions after which the variables of a host may have changed.
_VARIABLE_ACTIONS = frozenset(
    prefix + name
    for prefix in ('', 'ansible.builtin.', 'ansible.legacy.')
    for name in ('set_fact', 'include_vars')
)
_STATS = (('ok', 'ok'), ('changed', 'changed'), ('failed', 'failures'), ('unreachable', 'unreachable'),
          ('skipped', 'skipped'), ('rescued', 'rescued'), ('ignored', 'ignored'))


def utc_timestamp():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def collection_version(root=None):
    """The version in MANIFEST.json (an installed collection) or galaxy.yml (a checkout) at ``root``, else None."""
    root = root or os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
    try:
        with open(os.path.join(root, 'MANIFEST.json'), 'rb') as f:
            return to_text(json.load(f)['collection_info']['version'])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(root, 'galaxy.yml'), 'rb') as f:
            return to_text(yaml_load(f)['version'])
    except Exception:  # pylint: disable=broad-except
        # A broken galaxy.yml must not stop the run; the version is then unknown.
        return None


def secret_strings(value):
    """Every string of ``value`` (recursing into lists and dicts) long enough to be redacted."""
    found = set()
    if isinstance(value, dict):
        for item in value.values():
            found |= secret_strings(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            found |= secret_strings(item)
    elif value is not None and not isinstance(value, (bool, int, float)):
        text = to_text(value, errors='surrogate_or_strict')
        if len(text) >= MIN_SECRET_LENGTH:
            found.add(text)
    return found


def redact(value, secrets):
    """``value`` with every occurrence of a string of ``secrets`` replaced, in keys and values, recursively.

    ``secrets`` must be sorted longest first, so that a secret containing another one is replaced whole.
    """
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return dict((redact(k, secrets), redact(v, secrets)) for k, v in value.items())
    if isinstance(value, list):
        return [redact(item, secrets) for item in value]
    return value


def serialize(record, secrets=()):
    """One line of JSON, newline included, with ``secrets`` redacted.

    The record goes through JSON once before the redaction, so that every value the encoder turns into text
    (tagged or vaulted strings, dates, bytes) is a plain string when the secrets are looked for.
    """
    plain = json.loads(json.dumps(record, cls=AnsibleJSONEncoder))
    return json.dumps(redact(plain, secrets), separators=(',', ':')) + '\n'


def append_line(path, line):
    """Append ``line`` to ``path`` in one write under an exclusive lock; create the file 0600 and its directory.

    Raises OSError when the file cannot be written.
    """
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    data = line.encode('utf-8')
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _text(value):
    if isinstance(value, list):
        value = '\n'.join(to_text(line) for line in value)
    return to_text(value).strip() if value is not None else ''


def _cut(text, limit, tail=False):
    if len(text) <= limit:
        return text
    return '...' + text[-limit:] if tail else text[:limit] + '...'


def _current_user():
    try:
        return getpass.getuser()
    except Exception:  # pylint: disable=broad-except
        # getuser raises whatever its last lookup raised (KeyError, OSError, ImportError) for a uid without a name.
        return str(os.getuid())


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'hpc.vllm.jsonl_audit'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.run_id = None
        self._path = None
        self._secret_names = ()
        self._secrets = set()
        self._sorted_secrets = []
        self._warned = False
        self._run_started = None
        self._play = None
        self._play_name = None
        self._started = {}
        self._item_ends = {}
        self._previous_stats = {}

    # Writing

    def _write(self, event, **fields):
        if self._path is None:
            self._configure()
        record = {'ts': utc_timestamp(), 'event': event, 'run_id': self.run_id, 'pid': os.getpid()}
        record.update(fields)
        try:
            append_line(self._path, serialize(record, self._sorted_secrets))
        except (OSError, ValueError, TypeError) as exc:
            if not self._warned:
                self._warned = True
                self._display.warning('hpc.vllm.jsonl_audit: cannot write the audit log %s: %s' % (self._path, to_text(exc)))

    def _configure(self):
        self._path = os.path.abspath(self.get_option('path'))
        self._secret_names = tuple(name for name in (self.get_option('secret_variables') or []) if name)

    # Secrets

    def _add_secrets(self, values):
        new = set()
        for value in values:
            new |= secret_strings(value)
        if not new <= self._secrets:
            self._secrets |= new
            self._sorted_secrets = sorted(self._secrets, key=len, reverse=True)

    def _secret_values(self, variables, loader, names):
        """The rendered values of ``names`` in ``variables``; a value that fails to render is skipped."""
        values = []
        templar = Templar(loader=loader, variables=variables)
        for name in names:
            if name not in variables:
                continue
            try:
                values.append(templar.template(variables[name]))
            except Exception:  # pylint: disable=broad-except
                # An undefined or failing template is no value that a task could print.
                continue
        return values

    def _collect_secrets(self, play, hosts=None, task=None, names=None):
        names = names or self._secret_names
        manager = play.get_variable_manager() if play is not None else None
        if not names or manager is None:
            return
        loader = getattr(play, '_loader', None)
        if hosts is None:
            # Every host, not only the play's: a task may print another host's secret through hostvars.
            inventory = getattr(manager, '_inventory', None)
            hosts = list(inventory.hosts.values()) if inventory is not None else []
        for host in hosts or [None]:
            try:
                variables = manager.get_vars(play=play, host=host, task=task)
            except Exception:  # pylint: disable=broad-except
                # A host whose variables cannot be computed fails in Ansible itself, not here.
                continue
            self._add_secrets(self._secret_values(variables, loader, names))

    def _task_secret_names(self, task):
        """The secret variables that ``task`` itself, its blocks or its role's parameters set."""
        defined = set()
        try:
            defined.update(task.get_vars())
            role = getattr(task, '_role', None)
            if role is not None:
                defined.update(role.get_role_params())
        except Exception:  # pylint: disable=broad-except
            return ()
        return tuple(name for name in self._secret_names if name in defined)

    # Records of results

    def _duration(self, host_name, task, item=False):
        """Seconds since the task started on the host; for a loop item, since the item before it ended."""
        now = time.monotonic()
        key = (host_name, task._uuid)
        start = self._started.get(key, self._started.get(task._uuid, now))
        if item:
            # Loop items run one after the other on a host.
            start = self._item_ends.get(key, start)
            self._item_ends[key] = now
        else:
            self._started.pop(key, None)
            self._item_ends.pop(key, None)
        return round(now - start, 3)

    @staticmethod
    def _summary(result, failed):
        """The message of ``result``, with the tail of its stderr (or stdout) for a failure or when it has none."""
        msg = result.get('msg')
        if msg is None:
            msg = result.get('skip_reason')
        msg = _text(msg if msg is None or isinstance(msg, str) else json.dumps(msg, cls=AnsibleJSONEncoder))
        detail = ''
        if failed or not msg:
            streams = ('stderr', 'stdout') if failed else ('stdout', 'stderr')
            detail = next((_text(result[key]) for key in streams if result.get(key)), '')
        if detail:
            msg = _cut(msg, MSG_LIMIT // 2)
            parts = [msg, _cut(detail, MSG_LIMIT - len(msg), tail=True)]
        else:
            parts = [_cut(msg, MSG_LIMIT)]
        return '\n'.join(part for part in parts if part) or None

    def _record_result(self, result, status, item=False):
        host = result._host
        task = result._task
        data = result._result
        action = getattr(task, 'resolved_action', None) or task.action
        host_name = host.get_name()
        failed = status in ('failed', 'ignored', 'unreachable')
        if status == 'ok' and data.get('changed'):
            status = 'changed'
        record = {
            'host': host_name,
            'play': self._play_name,
            'task': getattr(result, 'task_name', None) or task.get_name(),
            'action': action,
            'status': status,
            'changed': bool(data.get('changed', False)),
            'duration_s': self._duration(host_name, task, item=item),
        }
        delegated = (data.get('_ansible_delegated_vars') or {}).get('ansible_delegated_host')
        if delegated and delegated != host_name:
            record['delegated_to'] = delegated
        if 'censored' in data or data.get('_ansible_no_log') or task.no_log is True:
            record['msg'] = NO_LOG_MSG
        else:
            if item:
                label = self._get_item_label(data)
                if not isinstance(label, (str, int, float, bool)) and label is not None:
                    label = json.dumps(label, cls=AnsibleJSONEncoder, sort_keys=True)
                if isinstance(label, str) and len(label) > ITEM_LIMIT:
                    label = label[:ITEM_LIMIT] + '...'
                record['item'] = label
            # The message is redacted before it is cut, so that no part of a secret survives the cut.
            fields = dict((key, data[key]) for key in ('msg', 'skip_reason', 'stderr', 'stdout') if key in data)
            record['msg'] = self._summary(redact(json.loads(json.dumps(fields, cls=AnsibleJSONEncoder)), self._sorted_secrets), failed)
            if isinstance(data.get('diagnostics'), dict):
                record['diagnostics'] = data['diagnostics']
        if not item and action in _VARIABLE_ACTIONS:
            self._collect_secrets(self._play, hosts=[host])
        self._write('item_result' if item else 'task_result', **record)

    # Callbacks

    def v2_playbook_on_start(self, playbook):
        self._configure()
        self.run_id = str(uuid.uuid4())
        self._run_started = time.monotonic()
        file_name = getattr(playbook, '_file_name', None)
        inventory = context.CLIARGS.get('inventory') or []
        if isinstance(inventory, str):
            inventory = [inventory]
        self._write(
            'run_start',
            # An ad-hoc command's playbook is named __adhoc_playbook__ and has no file.
            playbook=os.path.abspath(file_name) if file_name and os.path.exists(file_name) else file_name,
            user=_current_user(),
            inventory=[to_text(source) for source in inventory],
            check_mode=bool(context.CLIARGS.get('check', False)),
            ansible_version=ansible_version,
            collection_version=collection_version(),
            python_version=platform.python_version(),
        )

    def v2_playbook_on_play_start(self, play):
        self._play = play
        self._play_name = play.get_name()
        self._collect_secrets(play)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started[task._uuid] = time.monotonic()

    def v2_playbook_on_handler_task_start(self, task):
        self._started[task._uuid] = time.monotonic()

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.monotonic()
        names = self._task_secret_names(task)
        if names:
            self._collect_secrets(self._play, hosts=[host], task=task, names=names)

    def v2_runner_on_ok(self, result):
        self._record_result(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record_result(result, 'ignored' if ignore_errors else 'failed')

    def v2_runner_on_skipped(self, result):
        self._record_result(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record_result(result, 'unreachable')

    def v2_runner_item_on_ok(self, result):
        self._record_result(result, 'ok', item=True)

    def v2_runner_item_on_failed(self, result):
        self._record_result(result, 'failed', item=True)

    def v2_runner_item_on_skipped(self, result):
        self._record_result(result, 'skipped', item=True)

    def v2_playbook_on_stats(self, stats):
        # The stats of one ansible-playbook command add up over its playbooks: a run reports its own share.
        hosts = {}
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            previous = self._previous_stats.get(host, {})
            hosts[host] = dict((name, summary.get(key, 0) - previous.get(key, 0)) for name, key in _STATS)
            self._previous_stats[host] = summary
        failed = any(counts['failed'] or counts['unreachable'] for counts in hosts.values())
        duration = time.monotonic() - self._run_started if self._run_started is not None else None
        self._write(
            'run_end',
            duration_s=round(duration, 3) if duration is not None else None,
            hosts=hosts,
            status='failed' if failed else 'ok',
        )
