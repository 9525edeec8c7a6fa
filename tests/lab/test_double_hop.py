"""End to end: playbooks/deploy.yml on the multi-cluster lab and the double hop.

Run as root on the lab host with the controller venv (tests/run lab does):

    python -m pytest tests/lab/test_double_hop.py -q -p no:cacheprovider

deploy.yml runs through ansible-runner against inventories/lab (compute nodes reached only through
their login node) and is judged by its events. Then, with real vLLM, sshd and autossh: the openai
client on the laptop container through both hops for each cluster, the security properties of the
path (each refusal paired with a control that succeeds), and plain ssh under the supervisor when
autossh is not used. The faults are in test_faults.py; bad changes to a working deployment (a port
another user holds, wrong types) in test_no_harm.py.
"""

from __future__ import annotations

import json
import time

import pytest

from lablib import (CLIENT, CLUSTERS, INVENTORY, LAPTOP, MODEL, OTHER, PLAYBOOKS, REMOTE_PORT, USER, USER_UID, VLLM_PORT,
                    answers, api_key, changed, deploy, failure_messages, http, node, pids, run, run_playbook, task_results,
                    tcp_listeners, wait_for)


CHECK_TASK = "Check every endpoint through both hops"


# ---------------------------------------------------------------------------------------------
def test_deploy_checks_every_endpoint_through_both_hops(deployed):
    checks = [res for task, host, res in task_results(deployed["first"]) if task == CHECK_TASK and host == LAPTOP]
    assert len(checks) == 1
    items = {item["item"]["local_port"]: item for item in checks[0]["results"]}
    assert set(items) == {18000, 18001}
    for item in items.values():
        assert MODEL in item["models"] and item["ready"] is True
    hosts_with_changes = {host for task, host in changed(deployed["first"])}
    # the first run in a session may find everything in place already (lab reused); the tunnel services
    # on both compute nodes and on the laptop are then started, never changed, which the second run checks
    assert hosts_with_changes <= {"hpcv-compute-a", "hpcv-compute-b", "hpcv-laptop", "hpcv-bastion-a",
                                  "hpcv-bastion-b1", "hpcv-bastion-b2"}


def test_second_run_changes_nothing(deployed):
    assert changed(deployed["second"]) == set()
    assert {host for task, host, res in task_results(deployed["second"])} >= {
        "hpcv-compute-a", "hpcv-compute-b", "hpcv-laptop", "hpcv-bastion-a", "hpcv-bastion-b1", "hpcv-bastion-b2"}


def test_api_key_never_in_ansible_output(deployed):
    key = api_key()
    for name in ("first", "second"):
        runner = deployed[name]
        assert key not in json.dumps(list(runner.events))
        assert key not in runner.stdout.read()
    # and on no command line of any node (the services read it from 0600 files)
    for name in ("hpcv-compute-a", "hpcv-compute-b", LAPTOP, "hpcv-bastion-a"):
        out = node(name, "sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
        assert out.returncode == 0 and "ssh" in out.stdout  # the tunnels' command lines were read
        assert key not in out.stdout


def test_round_robin_alias_gets_a_tunnel_to_each_login_node(deployed):
    shown = [res["msg"] for task, host, res in task_results(deployed["second"])
             if task == "Show the tunnels" and host == "hpcv-compute-b"]
    # the resolver's order of the alias' addresses varies from run to run (round robin)
    assert shown and "through 2 tunnel(s) kept by autossh" in shown[0]
    assert "hpcv-bastion-b1" in shown[0] and "hpcv-bastion-b2" in shown[0]
    for bastion in CLUSTERS["b"][1]:
        assert tcp_listeners(bastion, REMOTE_PORT) == {f"127.0.0.1:{REMOTE_PORT}"}


@pytest.mark.parametrize("cluster", sorted(CLUSTERS))
def test_openai_client_through_both_hops(deployed, cluster):
    assert run(str(CLIENT), "install", timeout=300).returncode == 0
    out = run(str(CLIENT), "chat", str(CLUSTERS[cluster][2]), timeout=180)
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    print(f"cluster {cluster}: {out.stdout.strip()}")
    assert reply["model"] == MODEL
    assert reply["usage"]["completion_tokens"] > 0 and reply["finish_reason"] in ("length", "stop")


def test_check_mode_on_the_deployed_lab_changes_nothing(deployed):
    check = deploy(deployed["tmp"], cmdline="--check --diff")
    assert check.status == "successful", failure_messages(check)
    assert changed(check) == set()


def test_duplicate_local_ports_stop_the_run_before_any_host_changes(deployed):
    bad = run_playbook(deployed["tmp"], PLAYBOOKS / "deploy.yml", INVENTORY,
                       extravars={"vllm_api_key": api_key(), "tunnel_local_port": 18000})
    assert bad.status == "failed"
    assert any("tunnel_local_port 18000 is set for hpcv-compute-a and hpcv-compute-b" in message
               for message in failure_messages(bad)), failure_messages(bad)
    # only the laptop's check ran: no task reached a compute node or a login node
    assert {host for task, host, res in task_results(bad)} <= {LAPTOP}
    assert {host for task, host, res in task_results(bad, "runner_on_failed")} == {LAPTOP}


# --- the path's security --------------------------------------------------------------------
def test_laptop_cannot_reach_compute_nodes(deployed):
    for cluster, (compute, bastions, dummy) in CLUSTERS.items():
        address = run("podman", "inspect", "-f", f'{{{{ (index .NetworkSettings.Networks "hpcv-cluster-{cluster}").IPAddress }}}}',
                      compute).stdout.strip()
        probe = "import socket,sys; socket.create_connection((sys.argv[1], 22), timeout=3); print('open')"
        assert node(LAPTOP, "python3", "-c", probe, address).stdout.strip() != "open"
        # control: the login node reaches the same address and port
        assert node(bastions[0], "python3", "-c", probe, address).stdout.strip() == "open"


def test_vllm_and_bastion_listeners_are_loopback_only(deployed):
    for compute, bastions, local_port in CLUSTERS.values():
        assert tcp_listeners(compute, VLLM_PORT) == {f"127.0.0.1:{VLLM_PORT}"}
        for bastion in bastions:
            assert tcp_listeners(bastion, REMOTE_PORT) == {f"127.0.0.1:{REMOTE_PORT}"}
            # and the login node's listener is the researcher's own (ss -e: the socket's uid)
            owners = node(bastion, "ss", "-Hltne", f"sport = :{REMOTE_PORT}").stdout
            assert owners.count("uid:") == 1 and f"uid:{USER_UID} " in owners, owners
    assert tcp_listeners(LAPTOP, 18000) == {"127.0.0.1:18000"}
    assert tcp_listeners(LAPTOP, 18001) == {"127.0.0.1:18001"}


@pytest.mark.parametrize("path", ["/v1/models", "/v1/chat/completions", "/metrics", "/tokenize"])
def test_other_user_on_the_login_node_gets_no_model(deployed, path):
    bastion = CLUSTERS["a"][1][0]
    assert http(bastion, REMOTE_PORT, path, user=OTHER) == 401
    assert http(bastion, REMOTE_PORT, path, user=OTHER, key="guessed-key") == 401
    # control: the owner's key works from the same login node (GET on a POST route: 405, not 401)
    assert http(bastion, REMOTE_PORT, path, user=USER, key=api_key()) in (200, 405)


@pytest.mark.parametrize("src, key, direction", [
    ("hpcv-compute-a", "/home/researcher/.hpc-vllm/tunnels/hpcv-compute-a/reverse_ed25519", "reverse"),
    ("hpcv-laptop", "/home/researcher/.hpc-vllm/tunnels/hpcv-compute-a/forward_ed25519", "forward"),
])
def test_deployed_tunnel_keys_open_no_shell_and_forward_nowhere_else(deployed, src, key, direction):
    known_hosts = key.rsplit("/", 1)[0] + "/known_hosts"
    base = ["timeout", "20", "ssh", "-F", "none", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "HostKeyAlias=hpcv-bastion-a", "-l", USER, "hpcv-bastion-a"]
    shell = node(src, *base, "id", user=USER, timeout=40)
    assert shell.returncode != 0 and "tunnel-only key" in shell.stderr and "uid=" not in shell.stdout
    # forwarding to the login node's sshd (not the tunnel port) is refused
    elsewhere = node(src, *base[:-3], "-W", "127.0.0.1:22", "-l", USER, "hpcv-bastion-a", user=USER, timeout=40)
    assert "SSH-2.0" not in elsewhere.stdout and "administratively prohibited" in elsewhere.stderr
    if direction == "forward":
        # control: the same key reaches the tunnel port it is made for
        allowed = node(src, *base[:-3], "-W", f"127.0.0.1:{REMOTE_PORT}", "-l", USER, "hpcv-bastion-a",
                       user=USER, timeout=40, stdin="GET /health HTTP/1.0\r\n\r\n")
        assert allowed.stdout.startswith("HTTP/1.1 200")


# --- faults ---------------------------------------------------------------------------------
def test_plain_ssh_under_the_supervisor_when_autossh_is_not_used(deployed):
    """The path of a compute node without autossh (and no root to install it): plain ssh, restarted by
    the standalone supervisor, recovers from kill -9 as well."""
    compute = CLUSTERS["a"][0]
    plain = deploy(deployed["tmp"], limit="cluster_a",
                   cmdline="-e reverse_tunnel_autossh=never")
    try:
        assert plain.status == "successful", failure_messages(plain)
        shown = [res["msg"] for task, host, res in task_results(plain) if task == "Show the tunnels" and host == compute]
        assert shown and "kept by ssh under standalone" in shown[0]
        assert not pids(compute, "autossh") and answers("a")
        pattern = f"^ssh .*-R 127.0.0.1:{REMOTE_PORT}:"
        before = pids(compute, pattern)
        assert len(before) == 1
        started = time.monotonic()
        assert node(compute, "kill", "-9", str(before[0])).returncode == 0
        assert wait_for(lambda: (pids(compute, pattern) or before) != before and answers("a"), 60, 0.25)
        print(f"recovery (plain ssh, standalone supervisor): cluster A answers again "
              f"{time.monotonic() - started:.1f} s after kill -9")
    finally:
        back = deploy(deployed["tmp"], limit="cluster_a")
    assert back.status == "successful", failure_messages(back)
    assert pids(compute, "autossh") and answers("a")
