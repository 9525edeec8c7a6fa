#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
module: file_set
short_description: Write several small files, some of them secret, in one task
version_added: 0.2.0
author:
  - hpc.vllm developers (!UNKNOWN)
description:
  - Makes directories, writes files with the given content and mode, and removes files, all in one call, and
    says which of them changed. A loop of M(ansible.builtin.copy) costs one round trip to the node per file;
    over two ssh hops that is most of a deploy that changes nothing.
  - Each file is written to a temporary file beside it, created with its final mode, and renamed over it. So a
    reader never sees half a file, and a secret is never readable by others, not even for a moment.
  - The content of O(secret_files) is a C(no_log) value, never shown in a diff or in the output.
extends_documentation_fragment:
  - hpc.vllm.attributes
attributes:
  check_mode:
    support: full
    details: Reports what it would write or remove.
  diff_mode:
    support: partial
    details: The files of O(files); never those of O(secret_files).
options:
  directories:
    description: Directories to make first (their missing parents get the default mode), each C(path) and C(mode).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      mode:
        description: Its permission bits, in octal.
        type: str
        default: '0700'
  files:
    description: Files to write, each C(path), C(content) and C(mode).
    type: list
    elements: dict
    default: []
    suboptions: &file_suboptions
      path:
        description: The file.
        type: path
        required: true
      content:
        description: What it holds (never shown for O(secret_files)).
        type: str
        required: true
      mode:
        description: Its permission bits, in octal.
        type: str
        default: '0600'
  secret_files:
    description: Like O(files), for files that hold secrets.
    type: list
    elements: dict
    default: []
    suboptions: *file_suboptions
  absent:
    description: Files that must not exist.
    type: list
    elements: path
    default: []
seealso:
  - module: ansible.builtin.copy
  - module: hpc.vllm.supervised_service
"""

EXAMPLES = r"""
- name: Write the endpoint record and its key file
  hpc.vllm.file_set:
    directories:
      - path: ~/.hpc-vllm/endpoints
    files:
      - path: ~/.hpc-vllm/endpoints/cluster-a.json
        content: "{{ record | to_nice_json }}\n"
    secret_files:
      - path: ~/.hpc-vllm/endpoints/cluster-a.key
        content: "{{ api_key }}\n"
"""

RETURN = r"""
files_changed:
  description: The paths made, written, chmod-ed or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/home/researcher/.hpc-vllm/endpoints/cluster-a.json]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpc.vllm.plugins.module_utils._files import FileChanges

ENTRY = dict(path=dict(type='path', required=True), content=dict(type='str', required=True),
             mode=dict(type='str', default='0600'))


def main():
    secret_entry = dict(ENTRY, content=dict(type='str', required=True, no_log=True))
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True), mode=dict(type='str', default='0700'))),
            files=dict(type='list', elements='dict', default=[], options=ENTRY),
            # no_log on the content only: paths and modes stay readable in the output
            secret_files=dict(type='list', elements='dict', default=[], options=secret_entry, no_log=False),
            absent=dict(type='list', elements='path', default=[]),
        ),
        supports_check_mode=True,
    )
    changes = FileChanges(module.check_mode, module._diff)
    try:
        for entry in module.params['directories']:
            changes.directory(entry['path'], int(entry['mode'], 8))
        for secret, key in ((False, 'files'), (True, 'secret_files')):
            for entry in module.params[key]:
                changes.file(entry['path'], entry['content'], int(entry['mode'], 8), secret=secret)
        for path in module.params['absent']:
            changes.absent(path)
    except (ValueError, IOError, OSError) as exc:
        module.fail_json(msg='Cannot write the files: %s' % exc, files_changed=changes.changed)
    result = dict(changed=bool(changes.changed), files_changed=changes.changed)
    if module._diff:
        result['diff'] = changes.diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
