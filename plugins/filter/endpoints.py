# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The laptop's endpoint files, in one place: what the endpoints role writes for each deployment (a record
NAME.json with ready-to-copy usage, and the key in three files for three kinds of client) and what it shows.
Python rather than task Jinja: the role writes every file in one task, so the files of all deployments are
made at once, and the quoting of the shell lines is easier to get right here."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError
from shlex import quote as shlex_quote

# The files that hold the key (NAME.json never does).
KEY_SUFFIXES = ('key', 'env', 'headers')
DEFAULT_PROMPT = 'Say hello in five words.'


def _json(value):
    # as ansible's to_json writes it: the usage lines must stay byte for byte what earlier releases wrote
    return json.dumps(value)


def endpoint_usage(deployment, has_key, directory, prompt=DEFAULT_PROMPT):
    """The paths of the key files (None without a key) and the usage lines: a shell export, a curl command
    and a Python snippet, none of which puts the key on a command line."""
    base = '%s/%s' % (directory, deployment['name'])
    url = deployment['base_url']
    request = {'model': deployment['model'], 'messages': [{'role': 'user', 'content': prompt}], 'max_tokens': 32}
    key = '"$(cat %s)"' % shlex_quote(base + '.key') if has_key else 'EMPTY'
    headers = '-H %s' % shlex_quote('@%s.headers' % base) if has_key else ''
    return {
        'key_file': base + '.key' if has_key else None,
        'env_file': base + '.env' if has_key else None,
        'headers_file': base + '.headers' if has_key else None,
        'usage': {
            'export': 'export OPENAI_BASE_URL=%s OPENAI_API_KEY=%s' % (shlex_quote(url), key),
            'curl': "curl -sS %s %s -H 'Content-Type: application/json' -d %s"
                    % (shlex_quote(url + '/chat/completions'), headers, shlex_quote(_json(request))),
            'python': '\n'.join([
                'import os',
                'from openai import OpenAI',
                'client = OpenAI(base_url=%s, api_key=os.environ.get("OPENAI_API_KEY", "EMPTY"))' % _json(url),
                'reply = client.chat.completions.create(model=%s, messages=%s)'
                % (_json(deployment['model']), _json(request['messages'])),
                'print(reply.choices[0].message.content)',
            ]),
        },
    }


def endpoint_files(deployments, api_keys, directory, prompt=DEFAULT_PROMPT):
    """``{'records': [...], 'key_files': [...], 'absent': [...]}``: the files of every deployment as the module
    hpc.vllm.file_set takes them (``path``, ``content``), and the key files of deployments without a key,
    which must go. The key files hold the key: pass them as secret_files, with no_log."""
    if not isinstance(deployments, list) or not isinstance(api_keys, dict):
        raise AnsibleFilterError('endpoint_files needs the list of endpoint records and the dict of API keys')
    records, key_files, absent = [], [], []
    for deployment in deployments:
        base = '%s/%s' % (directory, deployment['name'])
        key = api_keys.get(deployment['name'])
        record = dict(deployment)
        record.update(endpoint_usage(deployment, bool(key), directory, prompt))
        records.append({'path': base + '.json',
                        'content': json.dumps(record, indent=4, sort_keys=True, separators=(',', ': ')) + '\n'})
        if not key:
            absent.extend('%s.%s' % (base, suffix) for suffix in KEY_SUFFIXES)
            continue
        # three clients read the key three ways; none puts it on a command line (export is a shell builtin,
        # curl reads -H @file, Python reads the environment)
        key_files.extend([
            {'path': base + '.key', 'content': '%s\n' % key},
            {'path': base + '.env', 'content': '# source me: the OpenAI clients read these two variables.\n'
                                               'export OPENAI_BASE_URL=%s\nexport OPENAI_API_KEY=%s\n'
                                               % (shlex_quote(deployment['base_url']), shlex_quote(key))},
            {'path': base + '.headers', 'content': 'Authorization: Bearer %s\n' % key},
        ])
    return {'records': records, 'key_files': key_files, 'absent': absent}


class FilterModule(object):
    def filters(self):
        return {'endpoint_files': endpoint_files, 'endpoint_usage': endpoint_usage}
