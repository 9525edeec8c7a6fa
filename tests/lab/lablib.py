"""Helpers shared by the lab tests: commands on the host and in lab containers, waiting, and
ansible-runner with its events (tests judge a run by its events, never by console text)."""

from __future__ import annotations

import os
import subprocess
import sys
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
                 cmdline: str | None = None, limit: str | None = None):
    """A playbook through ansible-runner; returns the runner (status, rc, events)."""
    import ansible_runner  # the lab tests import it only where it is installed (importorskip in each module)

    data = tmp_path / f"runner-{uuid.uuid4().hex[:8]}"
    data.mkdir()
    return ansible_runner.run(
        private_data_dir=str(data), playbook=str(playbook), inventory=str(inventory), extravars=extravars or {},
        cmdline=cmdline, limit=limit, quiet=True,
        # ansible-playbook from the venv that runs the tests, also when that venv is not on PATH
        envvars={"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_NOCOLOR": "1",
                 "PATH": os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", "")))},
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
