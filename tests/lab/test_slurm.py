"""Slurm deployments, end to end on the lab's cluster S (real slurmctld and slurmd, munge, shared /home,
pam_slurm_adopt, fake GPUs), with real vLLM and real tunnels inside the job.

deploy.yml runs on the whole inventory of inventories/lab (hosts.yml and slurm.yml: clusters A and B over
ssh, cluster S through Slurm) in one run, then on cluster S alone (--limit cluster_s). Ansible reaches
only the login node hpcv-slurm-login; the job runs vLLM and its reverse tunnel on a compute node.

Faults, each with a probe that sends a request a second through the laptop's endpoint of cluster S:
vLLM killed inside the job, scancel from outside, slurmd killed on the job's node, a job that stays
pending (partition down), the wall time reached. The table goes to build/lab/faults-slurm.{json,md}.

    python -m pytest tests/lab/test_slurm.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import json
import re
import time

import pytest

from lablib import (CLIENT, LAPTOP, PLAYBOOKS, REMOTE_PORT, REPO, USER, FaultReport, Probe, api_key, changed,
                    failure_messages, http, is_loopback, node, run, run_playbook, sockets_of_user, task_results,
                    tcp_listeners, wait_for)

pytest.importorskip("ansible_runner")

INVENTORY = REPO / "inventories" / "lab"  # the directory: hosts.yml and slurm.yml, one mixed inventory
DEPLOYMENT = "hpcv-slurm-vllm"
LOGIN = "hpcv-slurm-login"
NODES = ("hpcv-slurm-c1", "hpcv-slurm-c2")
LOCAL_PORT = 18002
HOME = f"/home/{USER}"
JOB_DIR = f"{HOME}/.hpc-vllm/slurm/{DEPLOYMENT}"
VLLM_DIR = f"{HOME}/.hpc-vllm/services/hpc-vllm-server"
VLLM = "vllm.entrypoints.openai.api_server"
REPORT = FaultReport("faults-slurm")
WAIT_LINE = re.compile(rf"^\[{DEPLOYMENT}\] job (\d+) (\S+)(.*)$", re.M)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    REPORT.write()


def playbook(tmp_path, name: str = "deploy.yml", limit: str | None = "cluster_s", **extravars):
    return run_playbook(tmp_path, PLAYBOOKS / name, INVENTORY, extravars={"vllm_api_key": api_key(), **extravars},
                        limit=limit)


def on_login(*cmd: str, timeout: float = 60):
    return node(LOGIN, *cmd, user=USER, timeout=timeout)


def job_id() -> str:
    out = on_login("cat", f"{JOB_DIR}/job.json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["job_id"]


def job(job: str) -> dict:
    """The job's scontrol record ({} once Slurm forgot it)."""
    out = on_login("scontrol", "-o", "show", "job", job)
    return dict(word.partition("=")[::2] for word in out.stdout.split() if "=" in word) if out.returncode == 0 else {}


def state(job_: str) -> str:
    return job(job_).get("JobState", "")


def serves() -> bool:
    return http(LAPTOP, LOCAL_PORT, key=api_key(), timeout=5) == 200


def status_row(tmp_path) -> dict:
    runner = playbook(tmp_path, "status.yml")
    reports = [res["ansible_facts"]["hpc_vllm_status"] for task, host, res in task_results(runner)
               if task == "Publish the report (for callers such as tests)"]
    assert reports, failure_messages(runner)
    return next(row for row in reports[0] if row["deployment"] == DEPLOYMENT)


def wait_lines(runner) -> list[tuple[str, str, str]]:
    return WAIT_LINE.findall(runner.stdout.read())


def redeploy(tmp_path, **extravars):
    runner = playbook(tmp_path, **extravars)
    assert runner.status == "successful", failure_messages(runner)
    return runner


@pytest.fixture(scope="module")
def slurm(deployed, tmp_path_factory):
    """The whole inventory in one run (clusters A and B are deployed already: they stay as they are), then
    cluster S alone once more."""
    tmp = tmp_path_factory.mktemp("slurm")
    started = time.monotonic()
    first = playbook(tmp, limit=None)
    seconds = time.monotonic() - started
    assert first.status == "successful", failure_messages(first)
    second = playbook(tmp)
    assert second.status == "successful", failure_messages(second)
    print(f"deploy.yml, whole inventory with cluster S cold: {seconds:.1f} s")
    return {"first": first, "second": second, "tmp": tmp}


# --- end to end -------------------------------------------------------------------------------------
def test_one_run_deploys_the_ssh_clusters_and_the_slurm_cluster(slurm):
    hosts = {host for task, host, res in task_results(slurm["first"])}
    assert {"hpcv-compute-a", "hpcv-compute-b", DEPLOYMENT, LOGIN, LAPTOP} <= hosts
    # the ssh clusters were deployed before: the mixed run leaves them as they were
    assert {host for task, host in changed(slurm["first"])} <= {DEPLOYMENT, LOGIN, LAPTOP}
    for port in (18000, 18001, LOCAL_PORT):
        assert http(LAPTOP, port, key=api_key()) == 200, port


def test_deploy_waits_visibly_until_the_job_serves(slurm):
    lines = wait_lines(slurm["first"])
    print("\n".join(" ".join(line) for line in lines))
    states = [line[1] for line in lines]
    assert "RUNNING" in states and states[-1] == "ready:", lines
    running = next(line for line in lines if line[1] == "RUNNING")
    assert re.match(r" on hpcv-slurm-c[12], (02:00:00|01:5\d:\d\d) left", running[2]), running  # of 02:00:00
    # a PENDING line, when the scheduler took a moment, comes before RUNNING with Slurm's reason
    for line in lines[:states.index("RUNNING")]:
        assert line[1] == "PENDING" and "expected start" in line[2], line
    assert all(line[0] == job_id() for line in lines)


def test_second_run_changes_nothing(slurm):
    assert changed(slurm["second"]) == set()
    assert {"kept"} == {res["action"] for task, host, res in task_results(slurm["second"])
                        if host == DEPLOYMENT and task.startswith("Keep the deployment's job")}


def test_openai_client_through_the_slurm_cluster(slurm):
    assert run(str(CLIENT), "install", timeout=300).returncode == 0
    out = run(str(CLIENT), "chat", str(LOCAL_PORT), timeout=180)
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    print(f"cluster S: {out.stdout.strip()}")
    assert reply["model"] == "tiny-llama" and reply["usage"]["completion_tokens"] > 0


def test_status_shows_the_job_then_every_hop(slurm):
    row = status_row(slurm["tmp"])
    assert row["first_broken"] is None, row
    detail = row["hops"]["vllm"]["detail"]
    assert re.match(rf"job {job_id()} RUNNING on hpcv-slurm-c[12], \d\d:\d\d:\d\d left$", detail), detail
    assert row["hops"]["login_node"]["detail"] == LOGIN


def test_vllm_and_the_tunnel_run_inside_the_job(slurm):
    """Both are processes of the job on its node (scontrol listpids), not daemons beside it; the compute
    node is never reached by ssh: pam_slurm_adopt would refuse it without a job, and Ansible has no host
    for it."""
    job_ = job_id()
    where = job(job_)["NodeList"]
    listed = node(where, "scontrol", "listpids", job_)
    assert listed.returncode == 0, listed.stderr
    in_job = {int(line.split()[0]) for line in listed.stdout.splitlines()[1:] if line.split()[0].isdigit()}
    vllm = [int(pid) for pid in node(where, "pgrep", "-u", USER, "-f", VLLM).stdout.split()]
    tunnel = [int(pid) for pid in node(where, "pgrep", "-u", USER, "-f", f"ssh .*-R 127.0.0.1:{REMOTE_PORT}:").stdout.split()]
    assert vllm and tunnel
    assert set(vllm + tunnel) <= in_job, (vllm, tunnel, sorted(in_job))
    other = NODES[1] if where == NODES[0] else NODES[0]
    assert not node(other, "pgrep", "-u", USER, "-f", VLLM).stdout.strip()


def test_api_key_absent_from_argv_batch_script_job_record_and_logs(slurm):
    key = api_key()
    job_ = job_id()
    where = job(job_)["NodeList"]
    shown = on_login("scontrol", "-dd", "show", "job", job_)
    script = on_login("scontrol", "write", "batch_script", job_, "-")
    assert shown.returncode == 0 and "JobState=RUNNING" in shown.stdout
    assert script.returncode == 0 and "SERVICES=(" in script.stdout  # control: the script was read
    assert key not in shown.stdout + script.stdout
    argv = node(where, "sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '").stdout
    assert VLLM in argv and key not in argv
    # the job's environment as slurmctld keeps it (what sbatch was given: Ansible's module's, never the key),
    # read as root, as an admin could; the batch step's /proc/PID/environ is closed even to root here
    environ = node(LOGIN, "sh", "-c", f"cat /var/spool/slurmctld/hash.*/job.{job_}/environment | tr '\\0' '\\n'").stdout
    assert f"USER={USER}" in environ and key not in environ
    on_node = node(where, "cat", f"/var/spool/slurmd/job{int(job_):05d}/slurm_script").stdout
    assert "SERVICES=(" in on_node and key not in on_node
    for path in (f"{JOB_DIR}/job.log", f"{JOB_DIR}/job.sh", f"{VLLM_DIR}/service.log", f"{VLLM_DIR}/run.sh"):
        text = on_login("cat", path)
        assert text.returncode == 0 and key not in text.stdout, path
    env = on_login("stat", "-c", "%a", f"{VLLM_DIR}/env").stdout.strip()
    assert env == "600"
    assert key not in json.dumps(list(slurm["first"].events)) + json.dumps(list(slurm["second"].events))


def test_nothing_of_the_deployment_listens_off_loopback(slurm):
    where = job(job_id())["NodeList"]
    sockets = sockets_of_user(where)
    print(f"sockets of {USER} on {where}:", sorted({port for proto, address, port in sockets}))
    assert 8000 in {port for proto, address, port in sockets}  # control: vLLM was seen
    assert [s for s in sockets if not is_loopback(s[1])] == []
    assert [s for s in sockets_of_user(LOGIN) if not is_loopback(s[1])] == []
    assert tcp_listeners(LOGIN, REMOTE_PORT) == {f"127.0.0.1:{REMOTE_PORT}"}


# --- bad input --------------------------------------------------------------------------------------
# Every check of the notation is in tests/unit/playbooks/test_bad_input.py (no lab); here three of them
# against the working deployment: its job keeps running and serving.
@pytest.mark.parametrize("extravars, named", [
    ({"slurm_time": "1:2:3:4"}, "slurm_time"),
    ({"vllm_device": "gpu", "slurm_gpus": 0}, "slurm_gpus"),
    ({"slurm_extra_options": ["--frobnicate=1"]}, "slurm_extra_options[0]: sbatch has no option --frobnicate"),
], ids=["time", "gpus-0", "unknown-option"])
def test_bad_input_fails_before_any_host_changes(slurm, extravars, named):
    before = job_id()
    runner = playbook(slurm["tmp"], **extravars)
    assert runner.status == "failed"
    assert any(named in message for message in failure_messages(runner)), failure_messages(runner)
    assert changed(runner) == set()
    assert job_id() == before and state(before) == "RUNNING" and serves()


def test_what_only_slurm_can_judge_fails_with_its_message_and_keeps_the_job(slurm):
    """An unknown partition: sbatch --test-only refuses it before the running job is touched. Then a time
    above the partition's MaxTime, which Slurm would take and keep pending for ever."""
    before = job_id()
    with Probe("s", port=LOCAL_PORT, min_results=3) as probe:
        runner = playbook(slurm["tmp"], slurm_partition="nosuch")
    messages = failure_messages(runner)
    assert runner.status == "failed"
    assert any("invalid partition" in m.lower() and "slurm_partition" in m for m in messages), messages
    assert job_id() == before and state(before) == "RUNNING"
    assert probe.failed == 0, probe.results
    REPORT.record("unknown partition (slurm_partition=nosuch)", "refused by sbatch --test-only, job kept",
                  f"refused, job {before} kept serving", True, None, probe)
    runner = playbook(slurm["tmp"], slurm_time="5-00:00:00")
    assert runner.status == "failed"
    assert any("slurm_time=5-00:00:00 is above the MaxTime 04:00:00 of partition gpu" in m
               for m in failure_messages(runner)), failure_messages(runner)
    assert job_id() == before and state(before) == "RUNNING" and serves()


# --- faults -----------------------------------------------------------------------------------------
def test_vllm_killed_inside_the_job_is_restarted_there(slurm):
    job_ = job_id()
    where = job(job_)["NodeList"]
    with Probe("s", port=LOCAL_PORT) as probe:
        pid = node(where, "pgrep", "-u", USER, "-f", VLLM).stdout.split()[0]
        killed = time.monotonic()
        assert node(where, "kill", "-9", pid).returncode == 0
        assert wait_for(lambda: not serves(), 30, 0.5)
        back = wait_for(lambda: serves() and node(where, "pgrep", "-u", USER, "-f", VLLM).stdout.split()[:1] != [pid],
                        300, 1)
        seconds = time.monotonic() - killed
    log = on_login("cat", f"{JOB_DIR}/job.log").stdout
    assert back and job_id() == job_ and state(job_) == "RUNNING"
    assert "hpc-vllm-server ended (exit 137)" in log
    REPORT.record("vLLM killed (SIGKILL) inside the job", "restarted inside the same job",
                  f"restarted in job {job_} on {where}", True, seconds, probe)


def test_scancel_from_outside_is_reported_and_deploy_resubmits(slurm):
    job_ = job_id()
    with Probe("s", port=LOCAL_PORT) as probe:
        cancelled = time.monotonic()
        assert on_login("scancel", job_).returncode == 0
        assert wait_for(lambda: state(job_) == "CANCELLED", 60, 1)
        row = status_row(slurm["tmp"])
        runner = redeploy(slurm["tmp"])
        seconds = time.monotonic() - cancelled
    assert row["first_broken"] == "vllm" and row["hops"]["vllm"]["detail"].startswith(f"job {job_} CANCELLED"), row
    said = [res["msg"] for task, host, res in task_results(runner) if task == "Say how the job before ended"]
    assert said and f"The job {job_} of {DEPLOYMENT} ended: CANCELLED" in said[0], said
    assert job_id() != job_ and state(job_id()) == "RUNNING" and serves()
    REPORT.record("scancel of the job from outside", "status: CANCELLED; deploy resubmits",
                  f"status: {row['hops']['vllm']['detail']}; job {job_id()} serves", True, seconds, probe)


def test_slurmd_killed_on_the_jobs_node_is_reported(slurm):
    """The node stops answering slurmctld: after SlurmdTimeout (the lab's 30 s) it is DOWN and the job
    NODE_FAIL, then requeued by Slurm (JobRequeue) or, once it left the queue, resubmitted by deploy."""
    job_ = job_id()
    where = job(job_)["NodeList"]
    with Probe("s", port=LOCAL_PORT) as probe:
        killed = time.monotonic()
        assert node(where, "pkill", "-9", "-x", "slurmd").returncode == 0
        states = set()
        assert wait_for(lambda: states.add(state(job_)) or bool(states & {"NODE_FAIL", "REQUEUED", "PENDING"}), 180, 2)
        row = status_row(slurm["tmp"])
        # the node comes back as it would after a repair: slurmd starts, and ends what is left of the old job
        assert node(where, "systemctl", "start", "slurmd").returncode == 0
        runner = redeploy(slurm["tmp"])
        seconds = time.monotonic() - killed
    print("states seen:", states, "status:", row["hops"]["vllm"]["detail"])
    assert row["hops"]["vllm"]["state"] != "ok" or state(job_) == "RUNNING"
    assert state(job_id()) == "RUNNING" and serves()
    # the old instance's processes, which outlived slurmd, ended when slurmd came back: one vLLM in all
    running = {name: node(name, "pgrep", "-u", USER, "-f", VLLM).stdout.split() for name in NODES}
    assert sum(len(pids) for pids in running.values()) == 1, running
    action = [res["action"] for task, host, res in task_results(runner) if task.startswith("Keep the deployment's job")]
    REPORT.record("slurmd killed (SIGKILL) on the job's node", "NODE_FAIL or requeue, reported; serves again",
                  f"states {sorted(states)}; status: {row['hops']['vllm']['detail']}; deploy: {action[0]}, "
                  f"job {job_id()} on {job(job_id())['NodeList']}", True, seconds, probe)


def test_a_job_that_stays_pending_shows_its_reason(slurm):
    job_ = job_id()
    with Probe("s", port=LOCAL_PORT) as probe:
        assert node(LOGIN, "scontrol", "update", "partitionname=gpu", "state=down").returncode == 0
        try:
            assert on_login("scancel", job_).returncode == 0
            assert wait_for(lambda: state(job_) == "CANCELLED", 60, 1)
            started = time.monotonic()
            runner = playbook(slurm["tmp"], slurm_pending_timeout=25, slurm_report_interval=10,
                              slurm_pending_timeout_action="keep")
            waited = time.monotonic() - started
            lines = wait_lines(runner)
            pending = job_id()
            row = status_row(slurm["tmp"])
        finally:
            assert node(LOGIN, "scontrol", "update", "partitionname=gpu", "state=up").returncode == 0
        runner_after = redeploy(slurm["tmp"])
    print("\n".join(" ".join(line) for line in lines))
    assert runner.status == "failed"
    assert any("after 25 s in the queue" in m and "left in the queue" in m for m in failure_messages(runner))
    assert len([line for line in lines if line[1] == "PENDING"]) >= 3, lines  # a steady pace, not one line
    assert all("(PartitionDown)" in line[2] for line in lines if line[1] == "PENDING"), lines
    assert row["hops"]["vllm"]["detail"].startswith(f"job {pending} PENDING (PartitionDown)"), row
    # kept in the queue (slurm_pending_timeout_action: keep), it starts once the partition is up again
    assert job_id() == pending and state(pending) == "RUNNING" and serves()
    assert "RUNNING" in [line[1] for line in wait_lines(runner_after)]
    REPORT.record("job pending (partition down), slurm_pending_timeout 25 s", "PENDING with its reason, steadily",
                  f"{len(lines)} lines over {waited:.0f} s, reason PartitionDown; kept, ran once up", True, None, probe)


def test_the_wall_time_is_reported_and_deploy_resubmits(slurm):
    """A job with a 3-minute limit: Slurm's USR1 stops vLLM cleanly, Slurm records TIMEOUT at the limit,
    and the next deploy (the usual settings) submits a new job and says how the last one ended."""
    short = redeploy(slurm["tmp"], slurm_time="3", slurm_stop_signal_seconds=60)
    job_ = job_id()
    assert [res["action"] for task, host, res in task_results(short) if task.startswith("Keep the deployment's job")] \
        == ["replaced"]
    with Probe("s", port=LOCAL_PORT) as probe:
        assert wait_for(lambda: state(job_) == "TIMEOUT", 300, 2), state(job_)
        ended = time.monotonic()
        row = status_row(slurm["tmp"])
        runner = redeploy(slurm["tmp"])
        seconds = time.monotonic() - ended
    log = on_login("cat", f"{JOB_DIR}/job.log").stdout
    assert "hpc-vllm job: stopping: the time limit is 60 s away (USR1)" in log
    assert row["hops"]["vllm"]["detail"].startswith(f"job {job_} TIMEOUT"), row
    said = [res["msg"] for task, host, res in task_results(runner) if task == "Say how the job before ended"]
    assert said and "ended: TIMEOUT" in said[0] and "the time limit is 60 s away (USR1)" in said[0], said
    assert state(job_id()) == "RUNNING" and serves()
    REPORT.record("wall time reached (3-minute job)", "status: TIMEOUT; deploy resubmits",
                  f"status: {row['hops']['vllm']['detail']}; job {job_id()} serves", True, seconds, probe)


# --- teardown ---------------------------------------------------------------------------------------
def test_teardown_cancels_the_job_and_leaves_nothing(slurm):
    job_ = job_id()
    runner = playbook(slurm["tmp"], "teardown.yml")
    assert runner.status == "successful", failure_messages(runner)
    assert on_login("squeue", "-h", "--me").stdout.strip() == ""
    assert state(job_) in ("CANCELLED", "")
    assert tcp_listeners(LOGIN, REMOTE_PORT) == set()
    assert tcp_listeners(LAPTOP, LOCAL_PORT) == set()
    assert "hpc-vllm:" + DEPLOYMENT not in on_login("cat", f"{HOME}/.ssh/authorized_keys").stdout
    assert on_login("test", "-e", JOB_DIR).returncode != 0
    again = playbook(slurm["tmp"], "teardown.yml")
    assert again.status == "successful" and changed(again) == set()
