"""The benchmarks of hpc.vllm on the lab: the tunnel next to a direct connection, in one run.

Usage (as root on the lab host, with the controller venv; lab/benchmark does all of it):

    python lab/bench/bench.py OUT.json [--quick] [--parts p1,p2,p3,p4,p5]

P1  GET /v1/models on one keep-alive connection: direct on the compute node (127.0.0.1:8000) against
    the laptop's endpoint through both hops, and against plain ``ssh -N -R`` / ``ssh -N -L`` tunnels
    (the design before the TCP_NODELAY fix), rounds interleaved so that both sides see the same machine.
P2  Streamed completions (tokens/s) with 1, 16 and 64 concurrent streams, direct against the tunnel.
P3  Recovery seconds from the fault suite's report (build/lab/faults.json), when it ran.
P4  deploy.yml cold (after teardown with vllm_purge), split by the audit log into install, model load
    and orchestration; the no-op re-run; status.yml.
P5  Cold and no-op deploy wall times for 1, 2 and 4 clusters (HPC_VLLM_LAB_CLUSTERS=4 lab/topology up).

The load generator (client.py) runs inside the lab nodes with their own python3; the API key reaches it
on stdin. Wall times are those a user sees: ansible-playbook from start to exit.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "build" / "lab"
INVENTORY = REPO / "inventories" / "lab" / "hosts.yml"
EXTRA_CLUSTERS = REPO / "lab" / "bench" / "clusters-cd.yml"
SECRETS = LAB / "secrets.yml"
TOPOLOGY = REPO / "lab" / "topology"
CLIENT = Path(__file__).with_name("client.py")
NODE_CLIENT = "/tmp/hpcv-bench-client.py"
USER = "researcher"
LAPTOP, COMPUTE, BASTION = "hpcv-laptop", "hpcv-compute-a", "hpcv-bastion-a"
VLLM_PORT, LOCAL_PORT, REMOTE_PORT = 8000, 18000, 8020
PLAIN_REMOTE, PLAIN_LOCAL = 8030, 19000  # the plain ssh -N tunnels of P1's "before" series
# Compute tasks whose time is installing software or staging the model, and the one that is vLLM
# loading the model until it answers (task names of the vllm_server role, as the audit log records them).
INSTALL_TASKS = {"Pack the wheelhouse", "Send and unpack the wheelhouse", "Create the venv",
                 "Install vLLM into the venv", "Remove the packages that break this build of vLLM",
                 "Copy the model from the controller"}
LOAD_TASK = "Wait for /health and the model in /v1/models"
SCALING = [(1, "cluster_a"), (2, "cluster_a:cluster_b"), (4, "all")]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def api_key() -> str:
    return SECRETS.read_text().split("vllm_api_key:", 1)[1].strip()


def sh(*cmd: str, timeout: float = 120, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin, check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return out


def in_node(name: str, *cmd: str, timeout: float = 600, check: bool = True, detach: bool = False, stdin=None):
    return sh("podman", "exec", *(["-d"] if detach else []), *(["-i"] if stdin is not None else []),
              "--user", USER, name, *cmd, timeout=timeout, check=check, stdin=stdin)


def client(name: str, *args: object) -> dict:
    """client.py inside a node, the key on stdin; its JSON answer."""
    out = in_node(name, "python3", NODE_CLIENT, *map(str, args), stdin=api_key() + "\n")
    return json.loads(out.stdout)


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def pct(p):  # nearest rank
        return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]
    return {"samples_ms": [round(s, 4) for s in samples], "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "max_ms": ordered[-1], "mean_ms": statistics.fmean(ordered)}


# ---------------------------------------------------------------------------------------------- P1
@contextmanager
def plain_ssh_tunnels():
    """The double hop as a researcher would script it by hand: ssh -N -R on the compute node, ssh -N -L on
    the laptop, with the lab's ordinary key (copied in for the run, removed afterwards)."""
    key, known = "/tmp/hpcv-bench-key", "/tmp/hpcv-bench-known_hosts"
    for name in (COMPUTE, LAPTOP):
        sh("podman", "cp", str(LAB / "topology" / "id_ed25519"), f"{name}:{key}")
        sh("podman", "cp", str(LAB / "topology" / "known_hosts"), f"{name}:{known}")
        sh("podman", "exec", name, "chown", USER, key, known)
        sh("podman", "exec", name, "chmod", "0600", key)
    ssh = ["ssh", "-N", "-F", "none", "-i", key, "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
           "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=5", "-l", USER]
    try:
        in_node(COMPUTE, *ssh, "-R", f"127.0.0.1:{PLAIN_REMOTE}:127.0.0.1:{VLLM_PORT}", BASTION, detach=True)
        in_node(LAPTOP, *ssh, "-L", f"127.0.0.1:{PLAIN_LOCAL}:127.0.0.1:{PLAIN_REMOTE}", BASTION, detach=True)
        deadline = time.monotonic() + 30
        while in_node(LAPTOP, "curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{PLAIN_LOCAL}/health",
                      check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the plain ssh tunnels did not come up within 30 s")
            time.sleep(0.5)
        yield PLAIN_LOCAL
    finally:
        for name in (COMPUTE, LAPTOP):
            sh("podman", "exec", name, "pkill", "-u", USER, "-f", f"ssh -N -F none -i {key}", check=False)
            sh("podman", "exec", name, "rm", "-f", key, known, check=False)


def p1_latency(rounds: int, count: int) -> dict:
    series = {"direct": (COMPUTE, VLLM_PORT, "direct: on the compute node, 127.0.0.1:8000"),
              "tunnel": (LAPTOP, LOCAL_PORT, "tunnel: the laptop's endpoint, through both hops"),
              "plain_ssh": (LAPTOP, PLAIN_LOCAL, "plain ssh -N -R / -L (before the fix)")}
    samples: dict[str, list[float]] = {name: [] for name in series}
    with plain_ssh_tunnels():
        for r in range(rounds):
            order = list(series) if r % 2 == 0 else list(reversed(series))
            for name in order:
                host, port, dummy = series[name]
                samples[name] += client(host, "latency", port, count)["samples_ms"]
            log(f"P1 round {r + 1}/{rounds}: " + ", ".join(
                f"{n} p99 {summary(samples[n])['p99_ms']:.2f} ms" for n in series))
    result = {"path": "/v1/models", "requests_per_round": count, "rounds": rounds,
              "series": {name: {"label": series[name][2], **summary(samples[name])} for name in series}}
    s = result["series"]
    result["delta_p50_ms"] = s["tunnel"]["p50_ms"] - s["direct"]["p50_ms"]
    result["delta_p99_ms"] = s["tunnel"]["p99_ms"] - s["direct"]["p99_ms"]
    result["goals"] = {"delta_p50_ms": 1, "delta_p99_ms": 3}
    result["met"] = {k: result[k] <= v for k, v in result["goals"].items()}
    return result


# ---------------------------------------------------------------------------------------------- P2
def tunnel_cpu_ticks() -> dict[tuple[str, str], int]:
    """CPU ticks used so far by each ssh and sshd process of the lab's researcher (the tunnels' three ssh
    hops; podman runs the containers' processes on this host's kernel, so /proc here sees them), by
    (pid, start time): a pid used again by a new process is another process."""
    uid = in_node(LAPTOP, "id", "-u").stdout.strip()
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            if comm not in ("ssh", "sshd") or (stat.parent / "status").read_text().split("Uid:")[1].split()[0] != uid:
                continue
            values = fields[1].split()
            ticks[(stat.parent.name, values[19])] = int(values[11]) + int(values[12])  # utime + stime; starttime
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return ticks


def tunnel_cpu_seconds(before: dict[tuple[str, str], int], after: dict[tuple[str, str], int]) -> float:
    """The ssh CPU seconds from ``before`` to ``after``, summed per process: a process that ended in between
    takes its ticks out of a plain difference of totals, which once made this figure negative. Such a
    process's last ticks are lost, so this is a lower bound; the tunnels' own processes live throughout."""
    return sum(max(0, spent - before.get(key, 0)) for key, spent in after.items()) / os.sysconf("SC_CLK_TCK")


def p2_throughput(rounds: int, levels: list[int], tokens: int) -> dict:
    result = {"tokens_per_stream": tokens, "rounds": rounds, "levels": []}
    sides = {"direct": (COMPUTE, VLLM_PORT), "tunnel": (LAPTOP, LOCAL_PORT)}
    for streams in levels:
        runs: dict[str, list[dict]] = {"direct": [], "tunnel": []}
        for side in sides:  # a warm-up per side and level: new connections, vLLM's batch shapes
            client(sides[side][0], "stream", sides[side][1], streams, min(tokens, 16))
        tunnel_cpu = 0.0
        for r in range(rounds):
            for side in (sides if r % 2 == 0 else reversed(list(sides))):
                cpu = tunnel_cpu_ticks()
                runs[side].append(client(sides[side][0], "stream", sides[side][1], streams, tokens))
                if side == "tunnel":
                    tunnel_cpu += tunnel_cpu_seconds(cpu, tunnel_cpu_ticks())
        rate = {side: [run["tokens"] / run["wall_s"] for run in runs[side]] for side in sides}
        tunnel_tokens = sum(run["tokens"] for run in runs["tunnel"])
        first = {side: statistics.median(s["first_token_s"] for run in runs[side] for s in run["streams"])
                 for side in sides}
        level = {"streams": streams, "direct_tok_s": statistics.median(rate["direct"]),
                 "tunnel_tok_s": statistics.median(rate["tunnel"]),
                 "direct_runs": rate["direct"], "tunnel_runs": rate["tunnel"],
                 "direct_first_token_p50_s": first["direct"], "tunnel_first_token_p50_s": first["tunnel"],
                 # what the three ssh hops cost: on the lab they share its CPUs with vLLM itself
                 "tunnel_ssh_cpu_s_per_1k_tokens": 1000 * tunnel_cpu / tunnel_tokens}
        level["ratio"] = level["tunnel_tok_s"] / level["direct_tok_s"]
        result["levels"].append(level)
        log(f"P2 {streams} streams: direct {level['direct_tok_s']:.0f} tok/s, tunnel {level['tunnel_tok_s']:.0f} tok/s,"
            f" ratio {level['ratio']:.3f}")
    result["goal"] = {"streams": 64, "ratio": 0.95}
    top = [level for level in result["levels"] if level["streams"] == 64]
    result["met"] = bool(top) and top[0]["ratio"] >= 0.95
    return result


# ---------------------------------------------------------------------------------------------- P3
def p3_recovery() -> dict:
    source = LAB / "faults.json"
    result = {"source": str(source.relative_to(REPO)), "present": source.is_file(), "faults": [],
              "goals": [{"fault_prefix": "1.", "seconds": 15, "what": "ssh kill"},
                        {"fault_prefix": "4.", "seconds": 30, "what": "partition heal"},
                        {"fault_prefix": "3.", "failed_requests": 0, "what": "sshd restart"},
                        {"fault_prefix": "7.", "seconds": 60, "what": "bastion fallback"}]}
    if result["present"]:
        result["faults"] = json.loads(source.read_text())
    return result


# ---------------------------------------------------------------------------------------------- P4, P5
def playbook(name: str, *args: str, audit: Path | None = None, inventories=(INVENTORY,)) -> dict:
    """ansible-playbook as a user runs it; wall seconds, and the audit log's run_end when asked for."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"), HPC_VLLM_REPO=str(REPO))
    if audit:
        audit.unlink(missing_ok=True)
        env.update(ANSIBLE_CALLBACKS_ENABLED="hpc.vllm.jsonl_audit", HPC_VLLM_AUDIT_LOG=str(audit))
    argv = ["ansible-playbook", *(f"-i{i}" for i in inventories), str(REPO / "playbooks" / name),
            "-e", f"@{SECRETS}", *args]
    start = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600, check=False)
    wall = time.monotonic() - start
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stdout[-4000:]}")
    result = {"wall_s": wall}
    if audit:
        records = [json.loads(line) for line in audit.read_text().splitlines()]
        result["records"] = records
        end = [r for r in records if r["event"] == "run_end"][-1]
        result["changed"] = sum(counts.get("changed", 0) for counts in end["hosts"].values())
    log(f"{name} {' '.join(args)}: {wall:.1f} s")
    return result


def split_cold(run: dict) -> dict:
    """Install, model load and orchestration of a cold deploy, from its audit records. The compute nodes
    work in parallel: orchestration is the wall time less the slowest node's install and model load."""
    install: dict[str, float] = {}
    load: dict[str, float] = {}
    for r in run["records"]:
        if r["event"] != "task_result" or not r["host"].startswith("hpcv-compute"):
            continue
        if r["task"] in INSTALL_TASKS:
            install[r["host"]] = install.get(r["host"], 0.0) + r["duration_s"]
        elif r["task"] == LOAD_TASK:
            load[r["host"]] = load.get(r["host"], 0.0) + r["duration_s"]
    critical = max(install, key=lambda h: install[h] + load.get(h, 0.0))
    return {"wall_s": run["wall_s"], "install_s": install, "model_load_s": load, "critical_host": critical,
            "orchestration_s": run["wall_s"] - install[critical] - load.get(critical, 0.0)}


def p4_deploy() -> dict:
    playbook("teardown.yml", "-e", "vllm_purge=true")
    cold = split_cold(playbook("deploy.yml", audit=LAB / "bench-cold.jsonl"))
    noop = playbook("deploy.yml", audit=LAB / "bench-noop.jsonl")
    status = playbook("status.yml")
    result = {"clusters": 2, "cold": cold, "noop": {"wall_s": noop["wall_s"], "changed": noop["changed"]},
              "status": {"wall_s": status["wall_s"]},
              "goals": {"orchestration_s": 60, "noop_wall_s": 20, "status_wall_s": 5}}
    measured = {"orchestration_s": cold["orchestration_s"], "noop_wall_s": noop["wall_s"],
                "status_wall_s": status["wall_s"]}
    result["met"] = {k: measured[k] <= v for k, v in result["goals"].items()}
    return result


def p5_scaling() -> dict:
    sh(str(TOPOLOGY), "up", timeout=600)  # HPC_VLLM_LAB_CLUSTERS=4 in the environment (lab/benchmark)
    both = (INVENTORY, EXTRA_CLUSTERS)
    runs = []
    for clusters, limit in SCALING:
        playbook("teardown.yml", "-e", "vllm_purge=true", inventories=both)
        cold = playbook("deploy.yml", "--limit", limit, inventories=both)
        noop = playbook("deploy.yml", "--limit", limit, inventories=both)
        runs.append({"clusters": clusters, "limit": limit, "cold_wall_s": cold["wall_s"], "noop_wall_s": noop["wall_s"]})
    one, four = runs[0], runs[-1]
    result = {"runs": runs, "ratio_cold": four["cold_wall_s"] / one["cold_wall_s"],
              "ratio_noop": four["noop_wall_s"] / one["noop_wall_s"], "goal": 1.5}
    result["met"] = {"cold": result["ratio_cold"] <= 1.5, "noop": result["ratio_noop"] <= 1.5}
    return result


# ---------------------------------------------------------------------------------------------- the run
def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    os_name = next((line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                    if line.startswith("PRETTY_NAME=")), "unknown")
    # the lab's site venv (inventories/lab), or the role's own where an inventory installs one
    vllm = in_node(COMPUTE, "sh", "-c", "ls -d /opt/site/vllm/lib/python3*/site-packages/vllm*.dist-info "
                   "~/.hpc-vllm/venv/lib/python3*/site-packages/vllm*.dist-info 2>/dev/null | head -1",
                   check=False).stdout.strip()
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory_gib": round(memory, 1), "kernel": platform.release(),
            "os": os_name, "podman": sh("podman", "--version").stdout.split()[-1],
            "openssh": in_node(BASTION, "ssh", "-V").stderr.split(",")[0].strip(),
            "vllm": vllm.removesuffix(".dist-info").rsplit("-", 1)[-1] if vllm else "unknown",
            "model": "tiny-llama (random weights, ~427k parameters, float16), lab/make_tiny_model.py"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--quick", action="store_true", help="a short smoke run of P1 and P2 (CI)")
    parser.add_argument("--parts", default="p1,p2,p3,p4,p5")
    parser.add_argument("--command", default="lab/benchmark", help="the command line to record in the report")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"p1", "p2", "p3", "p4", "p5"}
    if unknown:
        parser.error(f"--parts: unknown {sorted(unknown)}; allowed: p1, p2, p3, p4, p5")
    commit = sh("git", "-C", str(REPO), "rev-parse", "--short", "HEAD", check=False).stdout.strip() or "unknown"
    result = {"schema": 1, "command": args.command, "quick": args.quick, "commit": commit,
              "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for name in (COMPUTE, LAPTOP):
        sh("podman", "cp", str(CLIENT), f"{name}:{NODE_CLIENT}")
    result["machine"] = machine()
    if "p1" in parts:
        result["p1_latency"] = p1_latency(1 if args.quick else 3, 100 if args.quick else 300)
    if "p2" in parts:
        result["p2_throughput"] = p2_throughput(1 if args.quick else 3, [1, 16] if args.quick else [1, 16, 64],
                                                64 if args.quick else 256)
    if "p3" in parts:
        result["p3_recovery"] = p3_recovery()
    if "p4" in parts:
        result["p4_deploy"] = p4_deploy()
    if "p5" in parts:
        result["p5_scaling"] = p5_scaling()
    result["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
