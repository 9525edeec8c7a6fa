"""Helpers shared by the lab tests: commands on the host and in lab containers, waiting, and
ansible-runner with its events (tests judge a run by its events, never by console text)."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "build" / "collections"


def run(*cmd: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, input=stdin)


def node(name: str, *cmd: str, user: str | None = None, timeout: float = 60, stdin: str | None = None):
    """Run a command inside a lab container (as root, or as user)."""
    who = ["--user", user] if user else []
    interactive = ["-i"] if stdin is not None else []
    return run("podman", "exec", *interactive, *who, name, *cmd, timeout=timeout, stdin=stdin)


def wait_for(predicate, timeout: float = 10, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def run_playbook(tmp_path: Path, playbook: Path, inventory: Path, extravars: dict | None = None,
                 cmdline: str | None = None, limit: str | None = None, envvars: dict | None = None):
    """A playbook through ansible-runner; returns the runner (status, rc, events). ``envvars`` add to
    the environment of ansible-playbook (callbacks, for instance)."""
    import ansible_runner  # the lab tests import it only where it is installed (importorskip in each module)

    data = tmp_path / f"runner-{uuid.uuid4().hex[:8]}"
    data.mkdir()
    return ansible_runner.run(
        private_data_dir=str(data), playbook=str(playbook), inventory=str(inventory), extravars=extravars or {},
        cmdline=cmdline, limit=limit, quiet=True,
        # ansible-playbook from the venv that runs the tests, also when that venv is not on PATH
        envvars={"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_NOCOLOR": "1",
                 "PATH": os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", ""))),
                 **(envvars or {})},
    )


def task_results(runner, event: str = "runner_on_ok") -> list[tuple[str, str, dict]]:
    return [(e["event_data"].get("task", ""), e["event_data"].get("host", ""), e["event_data"].get("res", {}))
            for e in runner.events if e.get("event") == event]


def changed(runner) -> set[tuple[str, str]]:
    return {(task, host) for task, host, res in task_results(runner) if res.get("changed")}


def failure_messages(runner) -> list[str]:
    messages = []
    for task, dummy, res in task_results(runner, "runner_on_failed"):
        messages.append(f"{task}: {res.get('msg', '')}")
        messages.extend(f"{task}: {item.get('msg', '')}" for item in res.get("results", []) if item.get("failed"))
    return messages


# The lab of lab/topology: who is where.
TOPOLOGY = REPO / "lab" / "topology"
CLIENT = REPO / "lab" / "laptop-client"
INVENTORY = REPO / "inventories" / "lab" / "hosts.yml"
PLAYBOOKS = REPO / "playbooks"
SECRETS = REPO / "build" / "lab" / "secrets.yml"
USER, OTHER = "researcher", "mallory"
USER_UID = 1500  # lab/topology's RESEARCHER_UID
LAPTOP = "hpcv-laptop"
CLUSTERS = {  # name: (compute node, login nodes, local port)
    "a": ("hpcv-compute-a", ["hpcv-bastion-a"], 18000),
    "b": ("hpcv-compute-b", ["hpcv-bastion-b1", "hpcv-bastion-b2"], 18001),
}
REMOTE_PORT, VLLM_PORT = 8020, 8000
MODEL = "tiny-llama"


def api_key() -> str:
    return SECRETS.read_text().split("vllm_api_key:", 1)[1].strip()


def http(name: str, port: int, path: str = "/v1/models", user: str = USER, key: str | None = None,
         timeout: float = 10) -> int:
    """HTTP status of GET path on 127.0.0.1:port inside a node (0: no answer). The key goes on stdin."""
    script = ("import sys, urllib.request, urllib.error\n"
              "key = sys.stdin.readline().strip()\n"
              "req = urllib.request.Request('http://127.0.0.1:%s%s' % (sys.argv[1], sys.argv[2]))\n"
              "if key: req.add_header('Authorization', 'Bearer ' + key)\n"
              "try:\n"
              "    print(urllib.request.urlopen(req, timeout=float(sys.argv[3])).status)\n"
              "except urllib.error.HTTPError as e:\n"
              "    print(e.code)\n"
              "except Exception:\n"
              "    print(0)\n")
    out = node(name, "env", "-u", "http_proxy", "python3", "-c", script, str(port), path, str(timeout), user=user,
               stdin=(key or "") + "\n", timeout=timeout + 20)
    return int(out.stdout.strip() or 0)


def answers(cluster: str) -> bool:
    return http(LAPTOP, CLUSTERS[cluster][2], key=api_key(), timeout=5) == 200


class Probe:
    """One request each ``interval`` seconds (one a second by default) through the laptop's endpoint of a
    cluster, in a thread, while a fault or a bad change runs; ``failed`` counts the requests that got no 200.

    ``min_results``: the probe goes on after the block until it has made that many requests (30 s at most),
    so that a run that ends quickly still gets them (each request is a podman exec: under load, a second)."""

    def __init__(self, cluster: str, interval: float = 1.0, min_results: int = 0, port: int | None = None):
        self.port = port or CLUSTERS[cluster][2]
        self.interval = interval
        self.min_results = min_results
        self.key = api_key()
        self.results: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            started = time.monotonic()
            self.results.append((started, http(LAPTOP, self.port, key=self.key, timeout=3) == 200))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        deadline = time.monotonic() + 30
        while len(self.results) < self.min_results and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.1)
        self._stop.set()
        self._thread.join(10)

    @property
    def failed(self) -> int:
        return sum(1 for dummy, ok in self.results if not ok)


def tcp_listeners(name: str, port: int) -> set[str]:
    out = node(name, "ss", "-Hltn", f"sport = :{port}")
    assert out.returncode == 0, out.stderr
    return {line.split()[3] for line in out.stdout.splitlines() if line.strip()}


def pids(name: str, pattern: str) -> list[int]:
    out = node(name, "pgrep", "-u", USER, "-f", pattern)
    return [int(pid) for pid in out.stdout.split()]


def deploy(tmp_path: Path, **kwargs):
    """deploy.yml on the lab with its API key (ansible-runner passes it in a file, not on a command line)."""
    return run_playbook(tmp_path, PLAYBOOKS / "deploy.yml", INVENTORY, extravars={"vllm_api_key": api_key()}, **kwargs)


class FaultReport:
    """The table of a fault suite: fault, expected, observed, seconds to recover (or to fail closed), failed
    and sent probe requests; written to build/lab/STEM.json and STEM.md when the suite ends, and printed."""

    def __init__(self, stem: str):
        self.stem = stem
        self.results: list[dict] = []

    def record(self, fault: str, expected: str, observed: str, ok: bool, seconds: float | None, probe: Probe | None):
        entry = {"fault": fault, "expected": expected, "observed": observed, "ok": ok,
                 "seconds": None if seconds is None else round(seconds, 1),
                 "failed_requests": probe.failed if probe else None, "requests": len(probe.results) if probe else None}
        self.results.append(entry)
        print(f"fault: {json.dumps(entry)}")
        return entry

    def write(self):
        if not self.results:
            return
        out = REPO / "build" / "lab"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{self.stem}.json").write_text(json.dumps(self.results, indent=2) + "\n")
        lines = ["| fault | expected | observed | seconds | failed / sent requests |", "|---|---|---|---|---|"]
        for r in self.results:
            requests = "" if r["requests"] is None else f"{r['failed_requests']} / {r['requests']}"
            seconds = "" if r["seconds"] is None else f"{r['seconds']}"
            lines.append(f"| {r['fault']} | {r['expected']} | {r['observed']} | {seconds} | {requests} |")
        (out / f"{self.stem}.md").write_text("\n".join(lines) + "\n")
        print("\n" + "\n".join(lines))


# Runs on a node as root: every TCP listener and bound UDP socket of a uid, from /proc/net/{tcp,udp}{,6}
# (address, port, state), so that no socket of the deployment's processes escapes the scan, whoever opened it.
SOCKETS_OF_UID = r"""
import ipaddress, json, sys
uid, found = sys.argv[1], []
for proto in ("tcp", "tcp6", "udp", "udp6"):
    for line in open("/proc/net/" + proto).read().splitlines()[1:]:
        f = line.split()
        local, state, owner = f[1], f[3], f[7]
        if owner != uid or (proto.startswith("tcp") and state != "0A"):  # 0A: LISTEN; UDP: every bound socket
            continue
        raw, port = local.split(":")
        data = bytes.fromhex(raw)
        # /proc prints the address as 32-bit words in host byte order
        words = b"".join(data[i:i + 4][::-1] for i in range(0, len(data), 4))
        found.append([proto, str(ipaddress.ip_address(words)), int(port, 16)])
print(json.dumps(found))
"""


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback  # ::ffff:127.0.0.1 too


def sockets_of_user(name: str) -> list[list]:
    """[proto, address, port] of every socket the lab user listens on (TCP) or binds (UDP) on a node."""
    uid = node(name, "id", "-u", USER).stdout.strip()
    out = node(name, "python3", "-c", SOCKETS_OF_UID, uid)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
