# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The forced command of the tunnel keys (roles/bastion/files/hpc-vllm-tunnel-session), run by the real
/bin/sh as sshd would run it. A Python process plays the session's sshd: the script's parent, which holds
(or not) the reverse tunnel's listener; killing it plays the connection going away."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.hpc.vllm.plugins.filter.tunnels import TUNNEL_HOLD_COMMAND

SCRIPT = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'bastion', 'files', 'hpc-vllm-tunnel-session')
REFUSAL = 'tunnel-only key: it runs no commands and opens no shell'
COMPUTE_A, COMPUTE_B, LOGIN, LOGIN_V6 = '10.9.1.5', '10.9.1.6', '10.9.1.2', 'fd00::2'

# The fake sshd: listens on the port when asked, then runs the script as its child and waits for it.
SSHD = '''
import socket, subprocess, sys
script, direction, port, listen = sys.argv[1:5]
if listen == "yes":
    holder = socket.socket(); holder.bind(("127.0.0.1", int(port))); holder.listen(1)
child = subprocess.Popen(["/bin/sh", script, direction, port] + sys.argv[5:])
print(child.pid, flush=True)
sys.exit(child.wait())
'''


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def session(direction, port, command=TUNNEL_HOLD_COMMAND, listen=False, client=COMPUTE_A, server=LOGIN,
            name='cluster_a'):
    """A fake sshd running the script for deployment ``name`` (None: a line of an earlier release, without
    it); returns (sshd process, the script's pid)."""
    env = {k: v for k, v in os.environ.items() if k not in ('SSH_ORIGINAL_COMMAND', 'HPC_VLLM_TUNNEL')}
    env['SSH_CONNECTION'] = '%s 40000 %s 22' % (client, server)
    if command is not None:
        env['SSH_ORIGINAL_COMMAND'] = command
    sshd = subprocess.Popen([sys.executable, '-c', SSHD, SCRIPT, direction, str(port), 'yes' if listen else 'no']
                            + ([name] if name else []),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return sshd, int(sshd.stdout.readline())


def running(pid):
    try:
        with open('/proc/%d/stat' % pid) as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def holds(pid):
    """Whether pid has become the holder (tail waiting for its sshd)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open('/proc/%d/cmdline' % pid) as cmdline:
                if cmdline.read().split('\0')[:3] == ['tail', '-f', '/dev/null']:
                    return True
        except OSError:
            return False
        time.sleep(0.05)
    return False


def ended(process, timeout=10):
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


@pytest.fixture
def cleanup():
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize('command', [None, '', 'id', 'hpc-vllm-hold; id', 'hpc-vllm-hold id', 'internal-sftp'])
@pytest.mark.parametrize('direction', ['reverse', 'forward'])
def test_every_other_request_is_refused(cleanup, direction, command):
    sshd, dummy = session(direction, free_port(), command=command)
    cleanup.append(sshd)
    out, err = sshd.communicate(timeout=10)
    assert sshd.returncode == 1
    assert err.strip() == REFUSAL
    assert out == ''  # the session printed nothing (the fake sshd's pid line was read before)


def test_forward_session_holds_until_its_sshd_ends(cleanup):
    sshd, pid = session('forward', free_port())
    cleanup.append(sshd)
    assert holds(pid), sshd.stderr.read() if sshd.poll() is not None else 'not holding'
    with open('/proc/%d/environ' % pid, 'rb') as environ:
        assert ('HPC_VLLM_TUNNEL=forward ' .encode()) in environ.read()
    sshd.kill()  # the connection is gone: sshd exits, the holder must follow (tail --pid checks each second)
    sshd.wait()
    deadline = time.monotonic() + 10
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(pid), 'the holder outlived its sshd'


def test_reverse_session_holds_when_its_sshd_has_the_listener(cleanup):
    sshd, pid = session('reverse', free_port(), listen=True)
    cleanup.append(sshd)
    assert holds(pid), sshd.communicate(timeout=5)


def test_reverse_session_ends_without_a_listener(cleanup):
    """sshd refused the -R (nothing listens): the session ends and says so."""
    port = free_port()
    sshd, dummy = session('reverse', port)
    cleanup.append(sshd)
    out, err = sshd.communicate(timeout=10)
    assert sshd.returncode == 1
    assert 'this tunnel does not hold 127.0.0.1:%d (sshd refused the forwarding)' % port in err


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to listen as another user')
def test_reverse_session_ends_when_another_user_holds_the_port(cleanup):
    port = free_port()
    nobody = subprocess.Popen(
        [sys.executable, '-c', 'import socket, sys, time\ns = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))\n'
         's.listen(1); print("up", flush=True); time.sleep(60)', str(port)],
        preexec_fn=lambda: os.setuid(65534), stdout=subprocess.PIPE, text=True)
    cleanup.append(nobody)
    assert nobody.stdout.readline().strip() == 'up'
    sshd, dummy = session('reverse', port)
    cleanup.append(sshd)
    out, err = sshd.communicate(timeout=10)
    assert sshd.returncode == 1
    assert 'this tunnel does not hold 127.0.0.1:%d (user id 65534 does)' % port in err


@pytest.mark.parametrize('second', [
    # two addresses of one login node (IPv4 and IPv6, say): two tunnels of one deployment, one port
    dict(server=LOGIN_V6),
    # another deployment of the user on the same port (from another inventory, where no check could see it)
    dict(client=COMPUTE_B, name='cluster_b'),
], ids=['another address of the login node', 'another deployment'])
def test_reverse_session_leaves_the_port_to_another_live_tunnel_of_the_user(cleanup, second):
    """The tunnel that got the port keeps it; the other one's session ends, and neither ends the other."""
    port = free_port()
    first, first_holder = session('reverse', port, listen=True)
    cleanup.append(first)
    assert holds(first_holder)
    other, dummy = session('reverse', port, **second)
    cleanup.append(other)
    out, err = other.communicate(timeout=10)
    assert other.returncode == 1
    assert ('127.0.0.1:%d is held by another tunnel session of this user (from %s to %s); not this one'
            % (port, COMPUTE_A, LOGIN)) in err
    assert first.poll() is None and running(first_holder)


@pytest.mark.parametrize('stale_kwargs, fresh_kwargs', [
    # the compute node booted again with another address (or the deployment moved to another node)
    (dict(client=COMPUTE_A), dict(client=COMPUTE_B)),
    # authorized_keys lines of an earlier release (no deployment name): the same address
    (dict(name=None), dict(name=None)),
], ids=['from another compute address', 'lines of an earlier release'])
def test_reverse_session_ends_the_stale_session_of_its_deployment(cleanup, stale_kwargs, fresh_kwargs):
    port = free_port()
    stale, stale_holder = session('reverse', port, listen=True, **stale_kwargs)
    cleanup.append(stale)
    assert holds(stale_holder)
    fresh, dummy = session('reverse', port, **fresh_kwargs)
    cleanup.append(fresh)
    out, err = fresh.communicate(timeout=10)
    assert fresh.returncode == 1, err
    assert 'ended older sessions of this tunnel (sshd %d) that held 127.0.0.1:%d; connect again' % (stale.pid, port) in err
    assert ended(stale), 'the stale sshd was not ended'


# A holder as the script of an earlier release left it: its tag has no deployment ("reverse PORT FROM TO").
LEGACY_SSHD = '''
import os, socket, subprocess, sys
port, tag = sys.argv[1:3]
holder = socket.socket(); holder.bind(("127.0.0.1", int(port))); holder.listen(1)
child = subprocess.Popen(["tail", "-f", "/dev/null", "--pid=%d" % os.getpid()], env=dict(os.environ, HPC_VLLM_TUNNEL=tag))
print(child.pid, flush=True)
sys.exit(child.wait())
'''


def test_a_stale_session_of_an_earlier_release_is_ended_by_port_and_login_address(cleanup):
    """After an upgrade the login node still holds sessions the old script tagged without the deployment:
    on the same port and login node address they are this tunnel's, from whichever compute address."""
    port = free_port()
    legacy = subprocess.Popen([sys.executable, '-c', LEGACY_SSHD, str(port), 'reverse %d %s %s' % (port, COMPUTE_A, LOGIN)],
                              stdout=subprocess.PIPE, text=True)
    cleanup.append(legacy)
    assert holds(int(legacy.stdout.readline()))
    # a legacy session to another address of the login node is another live tunnel: left alone
    fresh_v6, dummy = session('reverse', port, client=COMPUTE_B, server=LOGIN_V6)
    cleanup.append(fresh_v6)
    assert 'held by another tunnel session of this user (from %s to %s)' % (COMPUTE_A, LOGIN) in fresh_v6.communicate(timeout=10)[1]
    assert legacy.poll() is None
    fresh, dummy = session('reverse', port, client=COMPUTE_B)
    cleanup.append(fresh)
    out, err = fresh.communicate(timeout=10)
    assert fresh.returncode == 1 and 'ended older sessions of this tunnel (sshd %d)' % legacy.pid in err, err
    assert ended(legacy)


def test_reverse_session_ends_the_stale_session_of_the_same_tunnel(cleanup):
    port = free_port()
    stale, stale_holder = session('reverse', port, listen=True)
    cleanup.append(stale)
    assert holds(stale_holder)
    # another deployment's tunnel (another port) from another compute node: never touched
    other_node, other_node_holder = session('reverse', port + 1, listen=True, client=COMPUTE_B, name='cluster_b')
    cleanup.append(other_node)
    assert holds(other_node_holder)

    # the compute node comes back after a partition: its new session finds the old one holding the port
    fresh, dummy = session('reverse', port)
    cleanup.append(fresh)
    out, err = fresh.communicate(timeout=10)
    assert fresh.returncode == 1, err
    assert 'ended older sessions of this tunnel (sshd %d) that held 127.0.0.1:%d; connect again' % (stale.pid, port) in err
    assert ended(stale), 'the stale sshd was not ended'
    assert other_node.poll() is None and running(other_node_holder)

    # and the next attempt gets the port and holds
    again, again_holder = session('reverse', port, listen=True)
    cleanup.append(again)
    assert holds(again_holder)


def test_a_holder_whose_sshd_is_gone_is_left_alone(cleanup):
    """Its sshd died (the holder now has another parent, which must never be signalled): nothing is ended."""
    port = free_port()
    gone, gone_holder = session('reverse', port, listen=True)
    cleanup.append(gone)
    assert holds(gone_holder)
    gone.kill()
    gone.wait()
    fresh, dummy = session('reverse', port, listen=True)
    cleanup.append(fresh)
    assert holds(dummy)
    assert 'ended older sessions' not in (fresh.stderr.read() if fresh.poll() is not None else '')


def test_forward_sessions_end_no_other_session(cleanup):
    port = free_port()
    first, first_holder = session('forward', port)
    cleanup.append(first)
    assert holds(first_holder)
    second, second_holder = session('forward', port)
    cleanup.append(second)
    assert holds(second_holder)
    assert first.poll() is None
