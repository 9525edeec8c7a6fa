"""Bad changes applied to the working lab: a re-run of deploy.yml with one wrong setting for cluster A.
Each run must fail naming the variable, change nothing on any host, and leave the endpoint serving
through both hops all along: a probe sends a request every 0.2 s through the laptop's port of cluster A
for the whole run, and none of them may fail. The cases print their message and the probe's count.

Run as root on the lab host with the controller venv (tests/run lab does):

    python -m pytest tests/lab/test_no_harm.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import hashlib
import shutil

import pytest
import yaml

from lablib import (CLUSTERS, LAPTOP, OTHER, PLAYBOOKS, REPO, USER, Probe, answers, api_key, changed, failure_messages,
                    node, pids, run_playbook, tcp_listeners, wait_for)


COMPUTE_A, (BASTION_A,), LOCAL_A = CLUSTERS["a"]


def bad_deploy(tmp_path, host_vars: dict):
    """deploy.yml for cluster A with ``host_vars`` on hpcv-compute-a, from a copy of inventories/lab (extra
    vars would reach cluster B's compute node too, and make a conflict of their own)."""
    inventory = tmp_path / "inventory"
    if inventory.exists():
        shutil.rmtree(inventory)
    shutil.copytree(REPO / "inventories" / "lab", inventory)
    (inventory / "host_vars").mkdir(exist_ok=True)
    (inventory / "host_vars" / f"{COMPUTE_A}.yml").write_text(yaml.safe_dump(host_vars))
    return run_playbook(tmp_path, PLAYBOOKS / "deploy.yml", inventory / "hosts.yml", limit="cluster_a",
                        extravars={"vllm_api_key": api_key()}, envvars={"HPC_VLLM_REPO": str(REPO)})


def authorized_keys() -> str:
    out = node(BASTION_A, "cat", f"/home/{USER}/.ssh/authorized_keys")
    assert out.returncode == 0, out.stderr
    return hashlib.sha256(out.stdout.encode()).hexdigest()


def check_harmless(tmp_path, host_vars: dict, expected: str):
    """The run fails naming the variable, changes nothing, and no probe request fails meanwhile."""
    keys_before = authorized_keys()
    with Probe("a", interval=0.2, min_results=3) as probe:
        result = bad_deploy(tmp_path, host_vars)
    messages = failure_messages(result)
    shown = [message for message in messages if expected in message] or messages or ["no failure"]
    print(f"bad change {host_vars}: {shown[0]}; {probe.failed} of {len(probe.results)} probe requests failed")
    assert result.status == "failed"
    assert any(expected in message for message in messages), messages
    assert changed(result) == set()
    assert authorized_keys() == keys_before  # the laptop's forward key still opens the port in use
    assert len(probe.results) >= 3 and probe.failed == 0, probe.results
    assert answers("a")
    return result


@pytest.mark.parametrize("host_vars, expected", [
    pytest.param({"tunnel_local_port": 80},
                 f"tunnel_local_port 80 of {COMPUTE_A} is below 1024, the lowest port a user without root may listen on",
                 id="privileged local port"),
    pytest.param({"tunnel_remote_port": 80},
                 f"tunnel_remote_port 80 is below 1024 on login node {BASTION_A}", id="privileged remote port"),
    pytest.param({"vllm_extra_args": "--enforce-eager"}, "vllm_extra_args must be a list", id="a string for a list"),
    pytest.param({"vllm_environment": "OMP_NUM_THREADS=2"}, "vllm_environment must be a dict", id="a string for a dict"),
    pytest.param({"vllm_environment": {"NOTE": "two\nlines"}},
                 "vllm_environment has values with a line break or a NUL byte, which the environment file cannot hold: NOTE",
                 id="a line break in the environment"),
    pytest.param({"vllm_environment": {"MY-VAR": "1"}}, "vllm_environment has names that are no environment variable names: MY-VAR",
                 id="no variable name"),
    pytest.param({"tunnel_bastions": BASTION_A}, "tunnel_bastions", id="a string for the login nodes"),
])
def test_bad_change_fails_naming_the_variable_and_keeps_serving(deployed, host_vars, expected):
    check_harmless(deployed["tmp"], host_vars, expected)


def test_remote_port_another_user_holds_fails_before_authorized_keys_change(deployed):
    """A new tunnel_remote_port that mallory holds on the login node: before, the run rewrote the login
    node's authorized_keys for the new port and only then failed, and the laptop's forward key, limited
    to the new port, was refused on the old one."""
    port = 8031
    holder = node(BASTION_A, "sh", "-c", f"nohup python3 -c \"import socket,time;s=socket.socket();"
                  f"s.bind(('127.0.0.1',{port}));s.listen();time.sleep(300)\" >/dev/null 2>&1 & echo $!", user=OTHER)
    try:
        assert wait_for(lambda: tcp_listeners(BASTION_A, port) == {f"127.0.0.1:{port}"}, 10)
        check_harmless(deployed["tmp"], {"tunnel_remote_port": port},
                       f"tunnel_remote_port {port} on login node {BASTION_A} is taken by {OTHER}")
        assert not pids(COMPUTE_A, f"127.0.0.1:{port}:")  # no tunnel was started for that port
        assert tcp_listeners(LAPTOP, LOCAL_A) == {f"127.0.0.1:{LOCAL_A}"}
    finally:
        node(BASTION_A, "kill", holder.stdout.strip())
