# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.hpc.vllm.plugins.module_utils._sshd_config import forwarding_settings


def write(path, text, mode=0o644):
    path.write_text(text)
    os.chmod(str(path), mode)
    return str(path)


def test_first_value_wins_and_includes_are_read_where_they_stand(tmp_path):
    drop_in = tmp_path / 'sshd_config.d'
    drop_in.mkdir()
    write(drop_in / '10-site.conf', 'AllowTcpForwarding remote\n')
    write(drop_in / '20-late.conf', 'AllowTcpForwarding no\nDisableForwarding=yes\n')
    main = write(tmp_path / 'sshd_config', '# comment\nInclude %s/*.conf\nAllowTcpForwarding yes\n'
                 'AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2\n' % drop_in)

    out = forwarding_settings(main)

    assert out['settings']['allowtcpforwarding'] == {'value': 'remote', 'where': '%s/10-site.conf:1' % drop_in}
    # "Keyword=value" is sshd syntax too
    assert out['settings']['disableforwarding'] == {'value': 'yes', 'where': '%s/20-late.conf:2' % drop_in}
    # AuthorizedKeysFile keeps its case and all its paths
    assert out['settings']['authorizedkeysfile']['value'] == '.ssh/authorized_keys .ssh/authorized_keys2'
    assert out['files_read'] == [main, '%s/10-site.conf' % drop_in, '%s/20-late.conf' % drop_in]
    assert out['unreadable'] == [] and out['match'] == []


def test_match_blocks_are_reported_apart(tmp_path):
    main = write(tmp_path / 'sshd_config', 'AllowTcpForwarding yes\nMatch User alice\n  AllowTcpForwarding no\n')

    out = forwarding_settings(main)

    assert out['settings']['allowtcpforwarding']['value'] == 'yes'
    assert out['match'] == [{'keyword': 'allowtcpforwarding', 'value': 'no', 'where': '%s:3' % main}]


def test_unreadable_files_are_listed_not_failed_on(tmp_path):
    missing = str(tmp_path / 'nothing')
    out = forwarding_settings(missing)
    assert out['settings'] == {} and out['files_read'] == []
    assert out['unreadable'] == ['%s (No such file or directory)' % missing]
