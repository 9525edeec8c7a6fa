# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The forward tunnel keeper (roles/forward_tunnel/files/hpc_vllm_tunnel.py): its ssh command line, its
order of candidates and its health checks. ssh itself is replaced by a scripted child and time by a
fake clock; the lab tests run it for real against sshd."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import http.server
import importlib.util
import json
import os
import threading

import pytest

from ansible_collections.hpc.vllm.plugins.filter.tunnels import tunnel_ssh_options

PATH = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'forward_tunnel', 'files', 'hpc_vllm_tunnel.py')
SPEC = importlib.util.spec_from_file_location('hpc_vllm_tunnel', PATH)
tunnel = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(tunnel)

# ssh_options as the forward_tunnel role writes them: from the collection's one list of tunnel options.
CONFIG = dict(tunnel.DEFAULTS, local_port=18001, remote_port=8020, identity='/k/id',
              ssh_options=tunnel_ssh_options('/k/kh', 5, 3, 10),
              candidates=[{'host': 'login1', 'port': 22, 'user': 'jdoe'}, {'host': 'login2', 'port': 2222, 'user': 'jdoe'}])


def test_ssh_argv_pins_everything():
    argv = tunnel.ssh_argv(CONFIG, CONFIG['candidates'][1])
    # a session (RemoteCommand, stdin from /dev/null), not -N: see tunnel_forced_command
    assert argv[:7] == ['ssh', '-n', '-T', '-F', 'none', '-i', '/k/id']
    options = [argv[i + 1] for i, arg in enumerate(argv) if arg == '-o']
    for option in ('ExitOnForwardFailure=yes', 'BatchMode=yes', 'IdentitiesOnly=yes', 'StrictHostKeyChecking=yes',
                   'UserKnownHostsFile=/k/kh', 'GlobalKnownHostsFile=/dev/null', 'HostKeyAlias=login2',
                   'ServerAliveInterval=5', 'ServerAliveCountMax=3', 'ConnectTimeout=10', 'RemoteCommand=hpc-vllm-hold'):
        assert option in options
    assert not any(option.startswith('StrictHostKeyChecking=no') for option in options)
    assert argv[-7:] == ['-L', '127.0.0.1:18001:127.0.0.1:8020', '-p', '2222', '-l', 'jdoe', 'login2']


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Child(object):
    """An ssh that lives ``lifetime`` seconds of the fake clock (None: until terminated)."""

    def __init__(self, clock, lifetime, code=255):
        self.clock, self.started, self.lifetime, self.code = clock, clock(), lifetime, code
        self.returncode = None

    def poll(self):
        if self.returncode is None and self.lifetime is not None and self.clock() - self.started >= self.lifetime:
            self.returncode = self.code
        return self.returncode

    def terminate(self):
        if self.returncode is None:
            self.returncode = -15

    kill = terminate

    def wait(self, timeout=None):
        if self.returncode is None:
            self.clock.now = self.started + (self.lifetime or 0)
            self.poll()
        return self.returncode


def run_keeper(script, attempts):
    """Run the keeper over ``script`` (host -> lifetimes of its successive ssh runs, None: until stopped) and
    stop it once ``attempts`` ssh have started; return (host, start time) of each."""
    clock = Clock()
    hosts = []
    keeper = None

    def popen(argv):
        hosts.append((argv[-1], clock()))
        return Child(clock, script[argv[-1]].pop(0))

    def probe(port, timeout):
        if len(hosts) >= attempts or clock() > 10000:
            keeper.stop()  # enough seen (or a keeper that never moves on: give up instead of hanging)
        return True

    keeper = tunnel.Keeper(CONFIG, popen=popen, clock=clock, sleep=clock.sleep, probe=probe)
    original_pause = keeper._pause

    def pause(seconds, watch_child=False):
        if len(hosts) >= attempts and keeper.child.poll() is not None:
            keeper.stop()
        original_pause(seconds, watch_child)

    keeper._pause = pause
    keeper.run()
    return hosts


def test_falls_back_to_the_next_login_node_and_returns_to_the_first_after_a_long_run():
    # login1 works for 100 s, then dies (sshd stopped): refused twice; login2 takes over at once
    hosts = run_keeper({'login1': [100, 0.1, 0.1], 'login2': [None]}, attempts=3)
    assert [host for host, dummy in hosts[:3]] == ['login1', 'login1', 'login2']
    assert hosts[2][1] - hosts[1][1] < 1, 'no pause between the first failure and the next candidate'


def test_backs_off_after_a_round_in_which_nothing_worked():
    hosts = run_keeper({'login1': [0.1] * 5, 'login2': [0.1] * 5 + [None]}, attempts=6)
    assert [host for host, dummy in hosts[:6]] == ['login1', 'login2'] * 3
    starts = [at for dummy, at in hosts]
    gaps = [round(starts[i + 1] - starts[i], 1) for i in range(0, 5)]
    # an exit is noticed within 0.5 s; within a round no pause, between rounds 1 s, then 2 s
    assert gaps == [0.5, 1.5, 0.5, 2.5, 0.5]


def test_unhealthy_far_end_moves_to_the_next_candidate():
    """login1's ssh stays up but nothing answers through it (its reverse tunnel is gone): after three failed
    health checks 10 s apart the keeper drops it for login2, where the checks pass."""
    clock = Clock()
    started = []
    checks = []
    keeper = None

    def popen(argv):
        started.append((argv[-1], clock()))
        return Child(clock, None)

    def probe(port, timeout):
        checks.append((started[-1][0], clock(), port))
        if len(started) == 2 and len([c for c in checks if c[0] == 'login2']) >= 3 or clock() > 1000:
            keeper.stop()  # enough seen (or, should the keeper never switch, give up instead of hanging)
        return started[-1][0] == 'login2'

    keeper = tunnel.Keeper(dict(CONFIG, health_interval=10, health_failures=3), popen=popen, clock=clock,
                           sleep=clock.sleep, probe=probe)
    keeper.run()
    assert [host for host, dummy in started] == ['login1', 'login2']
    login1_checks = [at for host, at, dummy in checks if host == 'login1']
    assert [round(at) for at in login1_checks] == [10, 20, 30]
    assert round(started[1][1]) == 30, 'switched right after the third failed check'
    assert set(port for dummy, dummy2, port in checks) == {18001}


def test_a_connection_that_passed_a_health_check_reconnects_without_the_backoff_of_the_outage_before():
    """One login node alias (cluster B of the lab). vLLM restarts: three connections fail their health
    checks and the backoff grows. vLLM is back: the fourth passes a check, then its login node dies 15 s
    in (shorter than STABLE_AFTER). The keeper connects again at once, not after the grown backoff."""
    clock = Clock()
    started = []
    keeper = None
    lifetimes = [None, None, None, 15, None]

    def popen(argv):
        started.append(clock())
        if len(started) == 5:
            keeper.stop()
        return Child(clock, lifetimes[len(started) - 1])

    def probe(port, timeout):
        return len(started) >= 4

    keeper = tunnel.Keeper(dict(CONFIG, candidates=CONFIG['candidates'][:1], health_interval=10, health_failures=3),
                           popen=popen, clock=clock, sleep=clock.sleep, probe=probe)
    keeper.run()
    gaps = [round(started[i + 1] - started[i], 1) for i in range(len(started) - 1)]
    # 30 s of failed checks each, then 1 s, 2 s, 4 s of backoff between them; the healthy one ran 15 s
    assert gaps[:3] == [31.0, 32.0, 34.0], gaps
    assert gaps[3] <= 15.5, 'waited out the backoff after a connection that worked'


class Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(self.status if self.path == '/health' else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize('status, expected', [(200, True), (503, False)])
def test_healthy_asks_health_over_http(status, expected):
    handler = type('H', (Health,), {'status': status})
    server = http.server.HTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        assert tunnel.healthy(server.server_address[1], 2) is expected
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_healthy_is_false_when_nothing_listens():
    server = http.server.HTTPServer(('127.0.0.1', 0), Health)
    port = server.server_address[1]
    server.server_close()
    assert tunnel.healthy(port, 1) is False


def test_load_fills_defaults_and_names_what_is_missing(tmp_path):
    path = tmp_path / 'tunnel.json'
    path.write_text(json.dumps({'local_port': 1, 'remote_port': 2, 'identity': 'i', 'ssh_options': ['BatchMode=yes'],
                                'candidates': [{'host': 'h'}]}))
    assert tunnel.load(str(path))['health_interval'] == 10
    path.write_text(json.dumps({'local_port': 1}))
    with pytest.raises(SystemExit, match='lacks remote_port, identity, ssh_options, candidates'):
        tunnel.load(str(path))
