"""The deployed lab, shared by the modules that need it: lab/topology up, then deploy.yml twice (the
second run with the audit callback on, its log kept for the audit tests). Deploying once per session
instead of once per module keeps tests/run inside its time budget.

The lab tests never skip: on a host that cannot run the lab, collection stops with what is missing
(a skipped lab test would let a broken lab pass unnoticed)."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from lablib import SECRETS, TOPOLOGY, deploy, failure_messages, run

AUDIT_CALLBACK = "hpc.vllm.jsonl_audit"

MISSING = [what for what, ok in (("root", os.geteuid() == 0), ("podman", shutil.which("podman") is not None),
                                 ("ansible_runner (the controller venv)", importlib.util.find_spec("ansible_runner")))
           if not ok]
if MISSING:
    raise pytest.UsageError(f"tests/lab needs {', '.join(MISSING)}; run them with: tests/run lab")


@pytest.fixture(scope="session")
def deployed(tmp_path_factory):
    up = run(str(TOPOLOGY), "up", timeout=600)
    assert up.returncode == 0, f"lab/topology up failed:\n{up.stdout}\n{up.stderr}"
    assert SECRETS.stat().st_mode & 0o077 == 0, "lab/lab-env.sh makes the key file 0600"
    tmp = tmp_path_factory.mktemp("deploy")
    audit = tmp / "audit" / "enterprise.jsonl"
    first = deploy(tmp)
    assert first.status == "successful", failure_messages(first)
    second = deploy(tmp, envvars={"ANSIBLE_CALLBACKS_ENABLED": AUDIT_CALLBACK, "HPC_VLLM_AUDIT_LOG": str(audit)})
    assert second.status == "successful", failure_messages(second)
    return {"first": first, "second": second, "tmp": tmp, "audit": audit}
