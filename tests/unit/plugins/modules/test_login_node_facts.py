# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import pwd
import socket

from ansible.module_utils import basic

from ansible_collections.hpc.vllm.plugins.modules import login_node_facts
from ansible_collections.hpc.vllm.tests.unit.plugins.modules.utils import run_module

ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJy0Host'
RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQHost'


class Node(object):
    """A login node in a temporary directory: host keys, sshd_config, a home; ssh -V answers ``banner``."""

    def __init__(self, tmp_path, monkeypatch, banner='OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024',
                 ssh=True):
        self.etc = tmp_path / 'etc'
        self.etc.mkdir()
        (self.etc / 'ssh_host_rsa_key.pub').write_text(RSA + ' root@login\n')
        (self.etc / 'ssh_host_ed25519_key.pub').write_text(ED25519 + ' root@login\n')
        (self.etc / 'sshd_config').write_text('AllowTcpForwarding remote\n')
        self.home = tmp_path / 'home'
        self.home.mkdir()
        self.commands = []
        entry = pwd.getpwuid(os.getuid())
        fake = pwd.struct_passwd((entry.pw_name, 'x', entry.pw_uid, entry.pw_gid, '', str(self.home), '/bin/sh'))
        monkeypatch.setattr(pwd, 'getpwuid', lambda uid: fake)
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                            lambda module, name, *args, **kwargs: '/usr/bin/' + name if ssh and name == 'ssh' else None)
        # a bound method set on the class stays bound to this fake: the module instance is not passed
        monkeypatch.setattr(basic.AnsibleModule, 'run_command', self.run_command)
        self.banner = banner

    def run_command(self, args, **kwargs):
        self.commands.append(list(args))
        return 0, '', self.banner + '\n'

    def run(self, **args):
        args.setdefault('sshd_config', str(self.etc / 'sshd_config'))
        args.setdefault('host_keys', str(self.etc / 'ssh_host_*_key.pub'))
        return run_module(login_node_facts.main, args, check_mode=args.pop('check', False))


def test_reads_everything_the_bastion_role_checks(tmp_path, monkeypatch):
    node = Node(tmp_path, monkeypatch)
    (node.home / '.ssh').mkdir()
    (node.home / '.ssh' / 'authorized_keys').write_text('ssh-ed25519 AAAAmine me@laptop\nrestrict ssh-rsa AAAAx hpc-vllm:a:reverse\n')
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        port = server.getsockname()[1]
        # read-only: the same answer in check mode
        failed, result = node.run(ports=[port], check=True)

    assert not failed, result
    assert result['changed'] is False
    facts = result['ansible_facts']
    assert facts['user_dir'] == str(node.home) and 'python' in facts
    # comments dropped, in the order of the file names
    assert result['host_keys'] == [ED25519, RSA]
    assert result['openssh'] == {'banner': 'OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024', 'version': '9.2'}
    assert node.commands == [['/usr/bin/ssh', '-V']]
    assert result['sshd']['settings']['allowtcpforwarding']['value'] == 'remote'
    assert result['authorized_keys'] == {
        'path': str(node.home / '.ssh' / 'authorized_keys'), 'exists': True, 'directory_exists': True,
        'lines': ['ssh-ed25519 AAAAmine me@laptop', 'restrict ssh-rsa AAAAx hpc-vllm:a:reverse']}
    assert result['listeners']['ports'][str(port)] == [
        {'address': '127.0.0.1', 'uid': os.getuid(), 'user': pwd.getpwuid(os.getuid()).pw_name, 'ours': True}]


def test_a_bare_home_and_no_ssh(tmp_path, monkeypatch):
    node = Node(tmp_path, monkeypatch, ssh=False)
    failed, result = node.run()
    assert not failed, result
    assert result['authorized_keys'] == {'path': str(node.home / '.ssh' / 'authorized_keys'), 'exists': False,
                                         'lines': [], 'directory_exists': False}
    # the role's assert then names what was found instead of a version
    assert result['openssh'] == {'banner': 'ssh not found in PATH', 'version': ''}
    assert node.commands == []
    assert result['listeners']['ports'] == {}


def test_an_unknown_banner_gives_no_version(tmp_path, monkeypatch):
    node = Node(tmp_path, monkeypatch, banner='Sun_SSH_1.1')
    failed, result = node.run()
    assert not failed
    assert result['openssh'] == {'banner': 'Sun_SSH_1.1', 'version': ''}


def test_ports_out_of_range_fail(tmp_path, monkeypatch):
    node = Node(tmp_path, monkeypatch)
    failed, result = node.run(ports=[0, 8020, 70000])
    assert failed
    assert result['msg'] == 'ports must be integers from 1 to 65535, got 0, 70000'
