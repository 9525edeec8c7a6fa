"""The multi-cluster lab made by lab/topology: who can reach whom, names, users, SSH.

Run as root on the lab host with the controller venv:

    python -m pytest tests/lab -q -p no:cacheprovider

The session fixture calls ``lab/topology up`` once (idempotent, fast when already up) and leaves
the topology running; ``lab/topology down`` removes it. Every check that expects "blocked" also
makes the same probe succeed on a pair that is connected, so a probe that can never succeed
(a missing tool, a wrong port) cannot pass as isolation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOPOLOGY = REPO / "lab" / "topology"
OUT = REPO / "build" / "lab" / "topology"
SSH_CONFIG = OUT / "ssh_config"
KNOWN_HOSTS = OUT / "known_hosts"
INVENTORY = OUT / "hosts.yml"

# Cluster S (Slurm): its compute nodes refuse ssh from a user without a job there (pam_slurm_adopt), so
# they are in no inventory; test_slurm_lab.py checks them.
SLURM_COMPUTE = ("hpcv-slurm-c1", "hpcv-slurm-c2")
NODES = ("hpcv-laptop", "hpcv-bastion-a", "hpcv-compute-a", "hpcv-bastion-b1", "hpcv-bastion-b2", "hpcv-compute-b",
         "hpcv-slurm-login") + SLURM_COMPUTE
SSH_NODES = tuple(node for node in NODES if node not in SLURM_COMPUTE)
BASTIONS = ("hpcv-bastion-a", "hpcv-bastion-b1", "hpcv-bastion-b2", "hpcv-slurm-login")
CAMPUS, CLUSTER_A, CLUSTER_B, CLUSTER_S = "hpcv-campus", "hpcv-cluster-a", "hpcv-cluster-b", "hpcv-cluster-s"
JUMP = {"hpcv-compute-a": ("hpcv-bastion-a", CLUSTER_A), "hpcv-compute-b": ("hpcv-bastion-b1", CLUSTER_B)}


def run(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def inspect_networks(node: str) -> dict:
    out = run("podman", "inspect", "-f", "{{json .NetworkSettings.Networks}}", node)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="session")
def lab() -> dict:
    """lab/topology up (once per session), then every node's address on every network."""
    up = run(str(TOPOLOGY), "up", timeout=600)
    assert up.returncode == 0, f"lab/topology up failed:\n{up.stdout}\n{up.stderr}"
    addresses = {}
    for node in NODES:
        addresses[node] = {net: info["IPAddress"] for net, info in inspect_networks(node).items()}
    gateways = {}
    for net in (CAMPUS, CLUSTER_A, CLUSTER_B, CLUSTER_S):
        out = run("podman", "network", "inspect", "-f", "{{range .Subnets}}{{.Gateway}}{{end}}", net)
        gateways[net] = out.stdout.strip()
    return {"addr": addresses, "gateway": gateways}


def tcp_open(src: str, dst_addr: str, port: int = 22) -> bool:
    """Can container src open a TCP connection to dst_addr:port? (nc inside src, 2 s timeout)"""
    out = run("podman", "exec", src, "nc", "-z", "-w", "2", dst_addr, str(port), timeout=30)
    assert "not found" not in out.stderr, out.stderr  # the tool itself must exist
    return out.returncode == 0


def ssh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run("ssh", "-F", str(SSH_CONFIG), *args, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# Reachability. Rows: source, destination, the destination's network (whose address is used),
# expected, and a control source that IS connected to that address (for blocked rows), or a
# closed port on the same address (for open rows): each row observes both outcomes.
REACH = [
    # the firewall that matters: laptop <-> compute, neither direction
    ("hpcv-laptop", "hpcv-compute-a", CLUSTER_A, False, "hpcv-bastion-a"),
    ("hpcv-laptop", "hpcv-compute-b", CLUSTER_B, False, "hpcv-bastion-b1"),
    ("hpcv-compute-a", "hpcv-laptop", CAMPUS, False, "hpcv-bastion-a"),
    ("hpcv-compute-b", "hpcv-laptop", CAMPUS, False, "hpcv-bastion-b2"),
    # clusters are separated from each other
    ("hpcv-compute-a", "hpcv-bastion-b1", CLUSTER_B, False, "hpcv-compute-b"),
    ("hpcv-compute-a", "hpcv-bastion-b1", CAMPUS, False, "hpcv-laptop"),
    ("hpcv-compute-a", "hpcv-compute-b", CLUSTER_B, False, "hpcv-bastion-b1"),
    ("hpcv-compute-b", "hpcv-compute-a", CLUSTER_A, False, "hpcv-bastion-a"),
    # a bastion's cluster-side address is not reachable from campus either
    ("hpcv-laptop", "hpcv-bastion-a", CLUSTER_A, False, "hpcv-compute-a"),
    # what must work: bastions see both sides, everyone sees their bastion
    ("hpcv-bastion-a", "hpcv-laptop", CAMPUS, True, None),
    ("hpcv-bastion-a", "hpcv-compute-a", CLUSTER_A, True, None),
    ("hpcv-bastion-b1", "hpcv-compute-b", CLUSTER_B, True, None),
    ("hpcv-bastion-b2", "hpcv-compute-b", CLUSTER_B, True, None),
    ("hpcv-laptop", "hpcv-bastion-a", CAMPUS, True, None),
    ("hpcv-laptop", "hpcv-bastion-b2", CAMPUS, True, None),
    ("hpcv-compute-a", "hpcv-bastion-a", CLUSTER_A, True, None),
    ("hpcv-compute-b", "hpcv-bastion-b1", CLUSTER_B, True, None),
    # cluster S: its compute nodes reach only their login node, the laptop only the login node
    ("hpcv-laptop", "hpcv-slurm-c1", CLUSTER_S, False, "hpcv-slurm-login"),
    ("hpcv-slurm-c1", "hpcv-laptop", CAMPUS, False, "hpcv-slurm-login"),
    ("hpcv-slurm-c2", "hpcv-bastion-a", CAMPUS, False, "hpcv-laptop"),
    ("hpcv-compute-a", "hpcv-slurm-c2", CLUSTER_S, False, "hpcv-slurm-c1"),
    ("hpcv-laptop", "hpcv-slurm-login", CLUSTER_S, False, "hpcv-slurm-c1"),
    ("hpcv-laptop", "hpcv-slurm-login", CAMPUS, True, None),
    ("hpcv-slurm-c1", "hpcv-slurm-login", CLUSTER_S, True, None),
    ("hpcv-slurm-c2", "hpcv-slurm-c1", CLUSTER_S, True, None),
]


@pytest.mark.parametrize(
    ("src", "dst", "net", "expected", "control"),
    REACH,
    ids=[f"{row[0]}->{row[1]}@{row[2]}:{'open' if row[3] else 'blocked'}" for row in REACH],
)
def test_reachability(lab, src, dst, net, expected, control):
    address = lab["addr"][dst][net]
    if expected:
        assert tcp_open(src, address, 22), f"{src} cannot reach {dst} {address}:22"
        assert not tcp_open(src, address, 1), f"the probe reports port 1 of {address} open: it cannot fail"
    else:
        assert tcp_open(control, address, 22), f"control {control} cannot reach {address}:22: the probe proves nothing"
        assert not tcp_open(src, address, 22), f"{src} reaches {dst} {address}:22 but must not"


# ---------------------------------------------------------------------------------------------
# The login alias round-robins over both cluster-b bastions, on each network they share.
ALIAS = [
    ("hpcv-compute-b", CLUSTER_B, True),
    ("hpcv-laptop", CAMPUS, True),
    ("hpcv-compute-a", None, False),  # another cluster's DNS does not know it
]


@pytest.mark.parametrize(("node", "net", "resolves"), ALIAS, ids=[a[0] for a in ALIAS])
def test_login_alias_round_robin(lab, node, net, resolves):
    out = run("podman", "exec", node, "getent", "ahosts", "hpcv-login-b")
    found = {line.split()[0] for line in out.stdout.splitlines() if "STREAM" in line}
    if resolves:
        assert out.returncode == 0, out.stderr
        assert found == {lab["addr"]["hpcv-bastion-b1"][net], lab["addr"]["hpcv-bastion-b2"][net]}
        # the same lookup fails for a name nobody has
        assert run("podman", "exec", node, "getent", "ahosts", "hpcv-login-nowhere").returncode != 0
    else:
        assert out.returncode != 0 and not found, out.stdout


# ---------------------------------------------------------------------------------------------
# SSH from the controller with the generated ssh_config: compute nodes only through their bastion.
@pytest.mark.parametrize("node", SSH_NODES)
def test_ssh_route(lab, node):
    out = ssh(node, "echo $(hostname) $SSH_CONNECTION")
    assert out.returncode == 0, out.stderr
    hostname, client = out.stdout.split()[:2]
    assert hostname == node
    if node in JUMP:
        bastion, net = JUMP[node]
        assert client == lab["addr"][bastion][net], f"{node} was not reached through {bastion}"
    else:
        assert client == lab["gateway"][CAMPUS], f"{node} reached from {client}, not the host"


def test_host_reaches_compute_without_jump(lab):
    """A fact of the lab, not of a real cluster: the host owns every bridge, so it reaches compute
    nodes directly. Tests that mean "through the bastion" must check the route (test_ssh_route)."""
    out = ssh("-o", "ProxyJump=none", "hpcv-compute-b", "echo $SSH_CONNECTION")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == lab["gateway"][CLUSTER_B]


def _known_hosts_variant(kind: str, tmp_path: Path) -> Path:
    lines = KNOWN_HOSTS.read_text().splitlines()
    path = tmp_path / f"known_hosts.{kind}"
    if kind == "generated":
        return KNOWN_HOSTS
    if kind == "empty":
        path.write_text("")
    elif kind == "wrong-key":  # compute-b's names with compute-a's key
        keys = {line.split()[0].split(",")[0]: line.split(None, 1)[1] for line in lines}
        names = next(line.split()[0] for line in lines if line.startswith("hpcv-compute-b,"))
        path.write_text("\n".join(
            line for line in lines if not line.startswith("hpcv-compute-b,")
        ) + f"\n{names} {keys['hpcv-compute-a']}\n")
    return path


@pytest.mark.parametrize(("kind", "ok"), [("generated", True), ("empty", False), ("wrong-key", False)])
def test_known_hosts_pinning(lab, tmp_path, kind, ok):
    """StrictHostKeyChecking=yes + BatchMode: the generated file lets ssh in without a prompt;
    a file without the key, or with another node's key, is refused."""
    known = _known_hosts_variant(kind, tmp_path)
    out = ssh("-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
              "-o", "ProxyJump=none", "hpcv-compute-b", "true")
    if ok:
        assert out.returncode == 0, out.stderr
    else:
        assert out.returncode != 0
        assert "Host key verification failed" in out.stderr or "No ED25519 host key is known" in out.stderr, out.stderr


def test_known_hosts_keys_match_nodes(lab):
    """Each known_hosts line pairs a node's names and addresses with that node's own host key."""
    lines = {line.split()[0].split(",")[0]: line.split() for line in KNOWN_HOSTS.read_text().splitlines()}
    assert sorted(lines) == sorted(NODES)
    for node in NODES:
        names = set(lines[node][0].split(","))
        assert set(lab["addr"][node].values()) <= names
        key = run("podman", "exec", node, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
        assert lines[node][1:3] == key
        assert ("hpcv-login-b" in names) == (node in ("hpcv-bastion-b1", "hpcv-bastion-b2"))


# ---------------------------------------------------------------------------------------------
# Users: researcher everywhere (no sudo), mallory only on the shared login nodes.
USERS = [(node, "researcher", 1500) for node in NODES] + [
    (node, "mallory", 1501 if node in BASTIONS else None) for node in NODES
]


@pytest.mark.parametrize(("node", "user", "uid"), USERS, ids=[f"{row[0]}:{row[1]}" for row in USERS])
def test_users(lab, node, user, uid):
    out = run("podman", "exec", node, "id", "-u", user)
    if uid is None:
        assert out.returncode != 0, f"{user} exists on {node}"
        return
    assert out.returncode == 0 and int(out.stdout) == uid, out.stderr
    sudo = run("podman", "exec", "--user", user, node, "sudo", "-n", "true")
    assert sudo.returncode != 0, f"{user} has sudo on {node}"
    stat = run("podman", "exec", node, "stat", "-c", "%a %U", f"/home/{user}/.ssh", f"/home/{user}/.ssh/authorized_keys")
    assert stat.stdout.split("\n")[:2] == [f"700 {user}", f"600 {user}"], stat.stdout
    login = ssh("-l", user, "-o", "ProxyJump=none", node, "id -u")
    if node in SLURM_COMPUTE:  # no job of theirs there: pam_slurm_adopt refuses
        assert login.returncode != 0 and login.stdout.strip() == "", login.stdout + login.stderr
        return
    assert login.returncode == 0 and int(login.stdout) == uid, login.stderr


# ---------------------------------------------------------------------------------------------
def _ansible(pattern: str, *args: str) -> dict:
    venv_bin = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin"
    ansible = venv_bin / "ansible" if (venv_bin / "ansible").exists() else shutil.which("ansible")
    assert ansible is not None, "ansible is not installed: run the lab tests in the controller venv (tests/run lab)"
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_HOST_KEY_CHECKING="True")
    out = subprocess.run([str(ansible), "-i", str(INVENTORY), pattern, *args], capture_output=True, text=True,
                         env=env, cwd=OUT, timeout=180, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout)["plays"][0]["tasks"][0]["hosts"]


def test_ansible_inventory_ping(lab):
    hosts = _ansible("all", "-m", "ansible.builtin.ping")
    assert sorted(hosts) == sorted(SSH_NODES)
    assert all(result.get("ping") == "pong" for result in hosts.values()), hosts


def test_ansible_reaches_compute_through_bastion(lab):
    hosts = _ansible("compute", "-m", "ansible.builtin.shell", "-a", "echo $SSH_CONNECTION")
    for node, (bastion, net) in JUMP.items():
        assert hosts[node]["stdout"].split()[0] == lab["addr"][bastion][net], hosts[node]


# ---------------------------------------------------------------------------------------------
def test_up_is_idempotent(lab):
    def ids():
        return {n: run("podman", "inspect", "-f", "{{.Id}}", n).stdout.strip() for n in NODES}

    before = ids()
    again = run(str(TOPOLOGY), "up", timeout=300)
    assert again.returncode == 0, again.stderr
    assert "recreating" not in again.stdout and "started" not in again.stdout, again.stdout
    assert ids() == before
    pub = (OUT / "id_ed25519.pub").read_text().strip()
    keys = run("podman", "exec", "hpcv-bastion-a", "cat", "/home/mallory/.ssh/authorized_keys").stdout.splitlines()
    assert keys.count(pub) == 1


def test_status_table(lab):
    out = run(str(TOPOLOGY), "status")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:]}
    assert sorted(rows) == sorted(NODES)
    for node in NODES:
        assert rows[node][-1] in ("running", "degraded"), rows[node]
        assert set(rows[node][1].split(",")) == set(lab["addr"][node])
