"""Faults on the deployed lab, each with a probe that sends one request a second through the laptop's
endpoint and counts the failures. Each test asserts behaviour (recovered, or refused and failed
closed); the seconds are figures for the report, never asserted.

The report goes to build/lab/faults.json and build/lab/faults.md (and is printed with -s):
fault, expected, observed, seconds to recover (or to fail closed), failed and total probe requests.

Run as root on the lab host with the controller venv (tests/run lab does):

    python -m pytest tests/lab/test_faults.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
import time

import pytest

from lablib import (CLUSTERS, LAPTOP, REMOTE_PORT, TOPOLOGY, USER, FaultReport, Probe, answers, changed, deploy, failure_messages,
                    node, pids, run, task_results, tcp_listeners, wait_for)


COMPUTE_A, (BASTION_A,), LOCAL_A = CLUSTERS["a"]
B1, B2 = CLUSTERS["b"][1]
SSH_A = f"^(/usr/bin/)?ssh .*-R 127.0.0.1:{REMOTE_PORT}:"  # the compute node's ssh itself, not autossh
AUTOSSH = r"^\S*autossh "  # Debian runs /usr/lib/autossh/autossh behind a wrapper
HOLDER = "^tail -f /dev/null --pid="  # the session a tunnel holds on its login node (tunnel_forced_command)
BLACKHOLE = "hpcv-blackhole"  # holds an address that must answer nothing (test_compute_node_lost_...)


REPORT = FaultReport("faults")
record = REPORT.record


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    REPORT.write()


def back_to_normal(cluster: str = "a", timeout: float = 240):
    assert wait_for(lambda: answers(cluster), timeout, 1), f"cluster {cluster} did not come back"


# ---------------------------------------------------------------------------------------------
def test_kill_9_of_the_compute_nodes_ssh(deployed):
    before = pids(COMPUTE_A, SSH_A)
    assert len(before) == 1 and answers("a")
    with Probe("a") as probe:
        started = time.monotonic()
        assert node(COMPUTE_A, "kill", "-9", str(before[0])).returncode == 0
        ok = wait_for(lambda: (pids(COMPUTE_A, SSH_A) or before) != before and answers("a"), 60, 0.25)
        seconds = time.monotonic() - started
        time.sleep(2)
    record("1. kill -9 of the compute node's ssh", "autossh starts a new ssh; endpoint back",
           f"new ssh pid {pids(COMPUTE_A, SSH_A)}", ok, seconds, probe)
    assert ok
    # The killed session's holder on the login node goes with its sshd: one per live tunnel remains
    # (the reverse and the forward tunnel of cluster A), none left behind.
    assert wait_for(lambda: len(pids(BASTION_A, HOLDER)) == 2, 60, 1), pids(BASTION_A, HOLDER)


def test_kill_9_of_autossh(deployed):
    autossh = pids(COMPUTE_A, AUTOSSH)
    assert len(autossh) == 1
    with Probe("a") as probe:
        started = time.monotonic()
        assert node(COMPUTE_A, "kill", "-9", str(autossh[0])).returncode == 0
        ok = wait_for(lambda: (pids(COMPUTE_A, AUTOSSH) or autossh) != autossh and answers("a"), 120, 0.25)
        seconds = time.monotonic() - started
        time.sleep(2)
    record("2. kill -9 of autossh", "the supervisor reaps its ssh and starts autossh again",
           f"new autossh pid {pids(COMPUTE_A, AUTOSSH)}", ok, seconds, probe)
    assert ok
    assert len(pids(COMPUTE_A, SSH_A)) == 1, "the old ssh was reaped, one tunnel remains"


def test_sshd_restart_on_the_login_node_drops_nothing(deployed):
    before = (pids(COMPUTE_A, SSH_A), pids(LAPTOP, f"ssh .*-L 127.0.0.1:{LOCAL_A}:"))
    with Probe("a") as probe:
        time.sleep(3)
        assert node(BASTION_A, "systemctl", "restart", "ssh.service").returncode == 0
        time.sleep(10)
    after = (pids(COMPUTE_A, SSH_A), pids(LAPTOP, f"ssh .*-L 127.0.0.1:{LOCAL_A}:"))
    ok = probe.failed == 0 and after == before
    record("3. sshd restart on the login node", "established sessions survive: 0 failed requests",
           f"{probe.failed} failed; tunnels {'unchanged' if after == before else 'restarted'}", ok, 0.0, probe)
    assert probe.failed == 0 and after == before


def partition(compute: str, login: str, on: bool):
    """Drop every packet between a compute node and a login node, inside the compute node's network
    namespace (its addresses stay, as on a real network that fails)."""
    pid = run("podman", "inspect", "-f", "{{.State.Pid}}", compute).stdout.strip()
    login_ip = node(compute, "getent", "hosts", login).stdout.split()[0]
    action = "-I" if on else "-D"
    for chain, direction in (("INPUT", "-s"), ("OUTPUT", "-d")):
        out = run("nsenter", "-t", pid, "-n", "iptables", action, chain, direction, login_ip, "-j", "DROP")
        assert out.returncode == 0, out.stderr


def reverse_tunnel_log(compute: str) -> str:
    out = node(compute, "sh", "-c", "cat ~/.hpc-vllm/services/hpc-vllm-reverse-*/service.log", user=USER)
    return out.stdout


def test_partition_between_compute_and_login_node(deployed):
    """After the heal, bastion-a's sshd still holds the dead session and its listener; the tunnel's new
    session ends it (roles/bastion/files/hpc-vllm-tunnel-session) instead of waiting ~50 s for TCP."""
    assert answers("a")
    ended_before = reverse_tunnel_log(COMPUTE_A).count("ended older sessions of this tunnel")
    with Probe("a") as probe:
        partition(COMPUTE_A, BASTION_A, True)
        try:
            assert wait_for(lambda: not answers("a"), 30, 1), "the endpoint kept answering through a partition"
            time.sleep(60)
        finally:
            partition(COMPUTE_A, BASTION_A, False)
        healed = time.monotonic()
        ok = wait_for(lambda: answers("a"), 180, 0.5)
        seconds = time.monotonic() - healed
        time.sleep(2)
    ended = reverse_tunnel_log(COMPUTE_A).count("ended older sessions of this tunnel") - ended_before
    record("4. partition compute-a <-> bastion-a for 60 s", "back after the heal (goal 30 s)",
           ("answers again" if ok else "still down") + f"; the new session ended the stale one {ended} time(s)",
           ok, seconds, probe)
    assert ok
    assert ended >= 1, "the stale session on bastion-a was not ended by the tunnel's new session"


def test_kill_9_of_vllm(deployed):
    server = pids(COMPUTE_A, "vllm.entrypoints.openai.api_server")
    assert server
    with Probe("a") as probe:
        started = time.monotonic()
        assert node(COMPUTE_A, "kill", "-9", str(min(server))).returncode == 0
        ok = wait_for(lambda: answers("a") and min(pids(COMPUTE_A, "vllm.entrypoints.openai.api_server") or server) != min(server),
                      300, 1)
        seconds = time.monotonic() - started
        time.sleep(2)
    record("5. kill -9 of vLLM", "the supervisor starts vLLM again; endpoint back once the model is loaded",
           "answers again" if ok else "still down", ok, seconds, probe)
    assert ok


def reverse_sessions(login: str) -> dict[str, str]:
    """The reverse tunnel sessions a login node holds for the researcher: holder pid -> its tag
    ("reverse PORT DEPLOYMENT LOGIN-ADDRESS COMPUTE-ADDRESS", set by hpc-vllm-tunnel-session). Read as the
    researcher: root in the container lacks CAP_SYS_PTRACE for another user's /proc/PID/environ."""
    out = node(login, "sh", "-c", f"for p in $(pgrep -u {USER} -x tail); do tr '\\0' '\\n' < /proc/$p/environ "
               "| sed -n \"s/^HPC_VLLM_TUNNEL=\\(reverse .*\\)/$p \\1/p\"; done", user=USER)
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.strip())


def address(name: str, network: str) -> str:
    out = run("podman", "inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}", name)
    return out.stdout.strip()


def active_units(compute: str) -> set[str]:
    """hpc.vllm's active user systemd units on a compute node (the researcher's manager, lingering)."""
    uid = node(compute, "id", "-u", user=USER).stdout.strip()
    out = node(compute, "env", f"XDG_RUNTIME_DIR=/run/user/{uid}", "systemctl", "--user", "list-units", "hpc-vllm-*",
               "--state=active", "--no-legend", "--plain", user=USER)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def test_restart_of_the_compute_node(deployed):
    """compute-b boots again (its container restarts). The researcher lingers there, so vLLM and the reverse
    tunnels are user systemd units, enabled: they start at boot and the endpoint answers without Ansible."""
    compute_b = CLUSTERS["b"][0]
    before = active_units(compute_b)
    assert "hpc-vllm-server.service" in before and any("reverse" in unit for unit in before), before
    assert answers("b")
    with Probe("b") as probe:
        started = time.monotonic()
        restart = run("podman", "restart", "-t", "10", compute_b, timeout=180)
        assert restart.returncode == 0, restart.stderr
        ok = wait_for(lambda: answers("b"), 300, 1)
        seconds = time.monotonic() - started
        time.sleep(2)
    after = active_units(compute_b)
    record("6. restart of the compute node (compute-b, lingering user)",
           "vLLM and the reverse tunnels start at boot as user units; endpoint back without Ansible",
           f"{len(after)} units active after boot, the same as before: {after == before}", ok and after == before,
           seconds, probe)
    # the controller's ssh_config names compute-b by address: written again should the restart change it
    up = run(str(TOPOLOGY), "up", timeout=600)
    assert up.returncode == 0, up.stderr
    assert ok and after == before, (before, after)


def blackhole(address):
    """A container on ``address`` of cluster B's network that drops every packet. podman frees a killed
    container's address a moment after ``podman kill`` returns (CI8: "requested ip address ... is already
    allocated" to the killed node), so it is tried again for a while."""
    result = None

    def placed():
        nonlocal result
        run("podman", "rm", "-f", "-t", "0", BLACKHOLE)
        result = run("podman", "run", "-d", "--rm", "--name", BLACKHOLE, "--cap-add", "NET_ADMIN", "--network",
                     "hpcv-cluster-b", "--ip", address, os.environ.get("HPC_VLLM_IMAGE", "localhost/hpc-vllm-node:bookworm"),
                     "sh", "-c", "iptables -I INPUT -j DROP && iptables -I OUTPUT -j DROP && exec sleep 900")
        return result.returncode == 0
    wait_for(placed, 30, 1)
    return result


def test_compute_node_lost_without_closing_its_sessions(deployed):
    """compute-b drops off the network before it dies (a power cut, a node that crashes), so both login
    nodes keep its reverse sessions and their listeners; it boots with another address (podman gives it
    one, as a site's DHCP or another node of the batch system would). Its new sessions are the same
    tunnels (same deployment, same login node address) and end the stale ones, so both login nodes carry
    the tunnel again without waiting for their TCP to give up on the old address."""
    compute_b = CLUSTERS["b"][0]
    old_address = address(compute_b, "hpcv-cluster-b")
    ended_before = reverse_tunnel_log(compute_b).count("ended older sessions of this tunnel")
    assert all(len(reverse_sessions(login)) == 1 for login in (B1, B2))
    with Probe("b") as probe:
        pid = run("podman", "inspect", "-f", "{{.State.Pid}}", compute_b).stdout.strip()
        for chain in ("OUTPUT", "INPUT"):  # not even a FIN or a reset leaves it
            assert run("nsenter", "-t", pid, "-n", "iptables", "-I", chain, "-j", "DROP").returncode == 0
        started = time.monotonic()
        assert run("podman", "kill", compute_b).returncode == 0
        # The old address goes to a placeholder that drops everything: compute-b must come back with another
        # one, and the login nodes' sessions to the old one get no reset from anybody.
        try:
            hole = blackhole(old_address)
            assert hole.returncode == 0, hole.stderr
        finally:
            # whatever happened to the placeholder, the node comes back (the later tests need cluster B)
            assert run("podman", "start", compute_b, timeout=120).returncode == 0
        new_address = address(compute_b, "hpcv-cluster-b")

        def carried_again():
            tags = [tag for login in (B1, B2) for tag in reverse_sessions(login).values()]
            return len(tags) == 2 and all(tag.endswith(" " + new_address) for tag in tags)
        try:
            ok = wait_for(carried_again, 300, 1)
            seconds = time.monotonic() - started
            answered = wait_for(lambda: answers("b"), 300, 1)
        finally:
            run("podman", "rm", "-f", "-t", "0", BLACKHOLE)
    ended = reverse_tunnel_log(compute_b).count("ended older sessions of this tunnel") - ended_before
    record("6b. compute node lost without closing its sessions (compute-b, new address)",
           "its new sessions end the stale ones on both login nodes; both carry the tunnel again",
           f"address {old_address} -> {new_address}; stale sessions ended {ended} time(s); both login nodes carry it: {ok}",
           ok and answered, seconds, probe)
    # the controller's ssh_config names compute-b by address: written again
    up = run(str(TOPOLOGY), "up", timeout=600)
    assert up.returncode == 0, up.stderr
    assert new_address != old_address
    assert ok and answered
    assert ended >= 1


def test_primary_login_node_down_falls_back(deployed):
    assert answers("b")
    with Probe("b") as probe:
        started = time.monotonic()
        try:
            assert node(B1, "systemctl", "stop", "ssh.service", "ssh.socket").returncode == 0
            node(B1, "pkill", "-KILL", "-u", USER, "sshd")  # the sessions of researcher: tunnels from both sides
            assert wait_for(lambda: not tcp_listeners(B1, REMOTE_PORT), 10)
            ok = wait_for(lambda: answers("b"), 120, 0.5)
            seconds = time.monotonic() - started
            via_b2 = tcp_listeners(B2, REMOTE_PORT) == {f"127.0.0.1:{REMOTE_PORT}"}
        finally:
            node(B1, "systemctl", "start", "ssh.service")
    record("7. primary login node down (sshd stopped on B1)", "cluster B answers through B2 (goal 60 s)",
           "answers through B2" if ok and via_b2 else "down", ok and via_b2, seconds, probe)
    assert ok and via_b2
    # B1 comes back into service by itself: the compute node's autossh reconnects within its backoff
    assert wait_for(lambda: tcp_listeners(B1, REMOTE_PORT) == {f"127.0.0.1:{REMOTE_PORT}"}, 90, 1)


def test_login_node_in_maintenance_during_a_deploy(deployed):
    """B2 does not answer during a deploy (paused: a login node in maintenance, or hung). The run succeeds,
    says DEGRADED, changes nothing, and keeps compute-b's tunnel to B2 as it was; once B2 answers again,
    that tunnel holds B2's listener again by itself, with no Ansible run. (B2, not B1: Ansible itself
    reaches compute-b through B1, its ProxyJump.)"""
    assert answers("b") and tcp_listeners(B2, REMOTE_PORT) == {f"127.0.0.1:{REMOTE_PORT}"}
    before = set(reverse_sessions(B2))
    assert len(before) == 1, before
    tunnels = node(CLUSTERS["b"][0], "ls", f"/home/{USER}/.hpc-vllm/services").stdout.split()
    with Probe("b") as probe:
        assert run("podman", "pause", B2).returncode == 0
        try:
            during = deploy(deployed["tmp"], limit="cluster_b")
        finally:
            assert run("podman", "unpause", B2).returncode == 0
        back = time.monotonic()
        # a new session, not the one from before the pause (its sshd only sees the connection gone once it runs)
        rejoined = wait_for(lambda: (set(reverse_sessions(B2)) - before) != set()
                            and tcp_listeners(B2, REMOTE_PORT) == {f"127.0.0.1:{REMOTE_PORT}"}, 120, 1)
        seconds = time.monotonic() - back
    degraded = [res["msg"] for task, host, res in task_results(during) if "DEGRADED" in str(res.get("msg", ""))]
    record("11. a login node in maintenance during a deploy (B2 paused)",
           "the run succeeds, DEGRADED; B2 carries the tunnel again within 60 s of its return, without Ansible",
           f"run {during.status} (rc {during.rc}), {len(degraded)} DEGRADED lines; B2 holds the listener again"
           if rejoined else f"run {during.status}; B2 did not get the tunnel back",
           during.status == "successful" and rejoined, seconds, probe)
    print("\n".join(degraded))
    # the run's recap, host by host (ok, changed, failed, skipped), as the note of a fault run quotes it
    print("recap:", json.dumps({stat: during.stats.get(stat, {}) for stat in ("ok", "changed", "failures",
                                                                              "dark", "skipped")}))
    assert during.status == "successful" and during.rc == 0, failure_messages(during)
    assert any(f"login node {B2} does not answer" in message for message in degraded), degraded
    # nothing rewritten or restarted for cluster B; the laptop's endpoint record lists the login nodes
    # that answered (status.yml checks those)
    assert changed(during) <= {("Write the endpoint records", LAPTOP)}, changed(during)
    assert node(CLUSTERS["b"][0], "ls", f"/home/{USER}/.hpc-vllm/services").stdout.split() == tunnels
    assert rejoined
    assert answers("b")


def test_local_port_taken_on_the_laptop_fails_before_any_host_changes(deployed):
    """Another user holds cluster A's local port (our tunnel stopped): deploy fails in its first play,
    naming the user and the variable; then our tunnel comes back with a normal run."""
    service = f"/home/{USER}/.hpc-vllm/services/hpc-vllm-forward-{COMPUTE_A}"
    assert node(LAPTOP, "su", USER, "-c", f"{service}/supervise.sh stop {service}").returncode == 0
    node(LAPTOP, "sh", "-c", f"nohup setpriv --reuid=nobody --regid=nogroup --clear-groups python3 -m http.server "
         f"--bind 127.0.0.1 {LOCAL_A} >/dev/null 2>&1 &")
    try:
        assert wait_for(lambda: tcp_listeners(LAPTOP, LOCAL_A) == {f"127.0.0.1:{LOCAL_A}"}, 10)
        started = time.monotonic()
        taken = deploy(deployed["tmp"], limit="cluster_a")
        seconds = time.monotonic() - started
        messages = failure_messages(taken)
        refused = taken.status == "failed" and any(f"tunnel_local_port {LOCAL_A}" in m and "nobody" in m for m in messages)
        touched = {e["event_data"].get("host") for e in taken.events if e.get("event") == "runner_on_ok"} - {LAPTOP}
    finally:
        node(LAPTOP, "pkill", "-u", "nobody", "-f", "http.server")
    record("9. the laptop's local port taken by another user", "deploy refuses before any host changes, naming the user",
           messages[0] if messages else "no failure", refused and not touched, seconds, None)
    assert refused, messages
    assert touched == set(), f"tasks ran on {touched}"
    back = deploy(deployed["tmp"], limit="cluster_a")
    assert back.status == "successful", failure_messages(back)
    assert answers("a")


def test_changed_host_key_of_the_login_node_is_refused(deployed):
    """bastion-a gets new host keys (a man in the middle, or a reinstall): both tunnels must refuse it and
    the endpoint must stop answering, loudly, rather than trust the new key. With the old keys back, the
    tunnels recover by themselves."""
    backup = "/root/ssh-host-keys"
    assert node(BASTION_A, "sh", "-c", f"mkdir -p {backup} && cp -a /etc/ssh/ssh_host_* {backup}/ && rm /etc/ssh/ssh_host_* "
                "&& ssh-keygen -A && systemctl restart ssh.service").returncode == 0
    try:
        with Probe("a") as probe:
            started = time.monotonic()
            # end the sessions that were authenticated with the old key: every new one meets the new key
            node(BASTION_A, "pkill", "-KILL", "-u", USER, "sshd")
            closed = wait_for(lambda: not answers("a"), 60, 0.5)
            seconds = time.monotonic() - started
            time.sleep(20)  # and it stays closed: no retry may accept the new key
            still_closed = not answers("a")
        log = node(COMPUTE_A, "sh", "-c", f"cat /home/{USER}/.hpc-vllm/services/hpc-vllm-reverse-*/service.log").stdout
        loud = "REMOTE HOST IDENTIFICATION HAS CHANGED" in log or "Host key verification failed" in log
    finally:
        node(BASTION_A, "sh", "-c", f"cp -a {backup}/ssh_host_* /etc/ssh/ && systemctl restart ssh.service")
    ok = closed and still_closed and loud
    record("10. the login node's host key changes", "tunnels refuse the new key; endpoint fails closed; log says why",
           "refused: 'Host key verification failed' in the tunnel log" if ok else "accepted or silent", ok, seconds, probe)
    assert closed and still_closed, "the endpoint answered through a login node with an unknown host key"
    assert loud, log[-2000:]
    back_to_normal("a", 180)
