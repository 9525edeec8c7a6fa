"""Security properties of a deployed lab that test_double_hop.py does not already show: where the API key
may and may not be, the modes of every file that holds a secret, host-key pinning everywhere, tunnel keys
that get no pty and no other port, listeners no other host can reach, and no socket of the deployment
off loopback on any node. Each refusal is paired with a
control that succeeds, so that a check cannot pass because nothing was there.

Run as root on the lab host with the controller venv (tests/run lab does):

    python -m pytest tests/lab/test_security.py -q -p no:cacheprovider
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from lablib import CLUSTERS, LAPTOP, REMOTE_PORT, REPO, USER, VLLM_PORT, api_key, is_loopback, node, sockets_of_user


HOME = f"/home/{USER}"
NODES = [LAPTOP] + sorted({login for dummy, logins, dummy2 in CLUSTERS.values() for login in logins}) + \
    [compute for compute, dummy, dummy2 in CLUSTERS.values()]
COMPUTE_A, (BASTION_A,) = CLUSTERS["a"][0], CLUSTERS["a"][1]


def files_holding(name: str, secret: str, *roots: str) -> list[str]:
    """The files under roots on a node that contain secret (grep reads it from stdin, not from argv).
    The roots include the vLLM venv (gigabytes): on a cold page cache grep needs minutes, hence the
    guard of 15 minutes rather than lablib's default minute."""
    out = node(name, "sh", "-c", 'read -r s; grep -rlF -D skip -e "$s" "$@" 2>/dev/null; true', "sh", *roots,
               stdin=secret + "\n", timeout=900)
    return out.stdout.split()


def mode(name: str, path: str) -> int:
    return int(node(name, "stat", "-c", "%a", path).stdout.strip(), 8)


def connects(src: str, host: str, port: int) -> bool:
    """Whether a TCP connection from src to host:port succeeds."""
    script = ("import socket, sys\n"
              "try:\n"
              "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close(); print('open')\n"
              "except OSError as e:\n"
              "    print('closed', e)\n")
    return node(src, "python3", "-c", script, host, str(port)).stdout.startswith("open")


# ---------------------------------------------------------------------------------------------
def test_key_files_are_private_and_exactly_where_expected(deployed):
    """Every file that holds the API key: 0600 (no group or other bits), in directories others cannot
    read, and only the files the design puts it in (env file on the node, endpoint files on the laptop)."""
    key = api_key()
    # one grep per node, all at once: the nodes' disks are the same disk, but the greps overlap I/O
    with ThreadPoolExecutor(len(NODES)) as pool:
        found = dict(zip(NODES, pool.map(
            lambda name: files_holding(name, key, HOME, "/tmp", "/etc", "/var/log", "/run"), NODES)))
    assert sorted(found[COMPUTE_A]) == [f"{HOME}/.hpc-vllm/services/hpc-vllm-server/env"]
    assert sorted(found[LAPTOP]) == sorted(f"{HOME}/.hpc-vllm/endpoints/{compute}.{suffix}"
                                           for compute, dummy, dummy2 in CLUSTERS.values()
                                           for suffix in ("env", "headers", "key"))
    for name in [BASTION_A] + CLUSTERS["b"][1]:
        assert found[name] == [], f"a login node never holds the key: {found[name]}"
    for name, paths in found.items():
        for path in paths:
            assert mode(name, path) & 0o077 == 0, f"{name}:{path} is {oct(mode(name, path))}"
            parent = path.rsplit("/", 1)[0]
            assert mode(name, parent) & 0o007 == 0, f"{name}:{parent} is {oct(mode(name, parent))}"


def test_private_tunnel_keys_are_private(deployed):
    keys = {COMPUTE_A: f"{HOME}/.hpc-vllm/tunnels/{COMPUTE_A}/reverse_ed25519",
            LAPTOP: f"{HOME}/.hpc-vllm/tunnels/{COMPUTE_A}/forward_ed25519"}
    for name, path in keys.items():
        assert node(name, "head", "-1", path).stdout.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        assert mode(name, path) & 0o077 == 0
        assert mode(name, path.rsplit("/", 1)[0]) & 0o077 == 0


def test_api_key_not_in_logs_or_journal(deployed):
    key = api_key()
    logs = node(COMPUTE_A, "sh", "-c", f"ls {HOME}/.hpc-vllm/services/*/*.log {HOME}/.hpc-vllm/services/*/*.jsonl")
    assert f"{HOME}/.hpc-vllm/services/hpc-vllm-server/vllm.jsonl" in logs.stdout.split()  # the logs exist
    for name in NODES:
        journal = node(name, "journalctl", "--no-pager", "-q", "-o", "cat", timeout=120)
        assert journal.returncode == 0 and journal.stdout.strip(), f"{name}: no journal to search"
        assert key not in journal.stdout
        assert files_holding(name, key, "/var/log") == []
    assert node(COMPUTE_A, "grep", "-c", "vllm", f"{HOME}/.hpc-vllm/services/hpc-vllm-server/vllm.jsonl").stdout.strip() != "0"


def test_host_keys_pinned_everywhere(deployed):
    """No StrictHostKeyChecking=no (or accept-new) in what the collection ships or in what it deployed;
    the deployed tunnels run with StrictHostKeyChecking=yes against a pinned known_hosts."""
    weak = re.compile(r"StrictHostKeyChecking\W+(no|accept-new|off)", re.IGNORECASE)
    # what runs (the READMEs say "never StrictHostKeyChecking=no", which is prose)
    shipped = [path for top in ("roles", "plugins", "playbooks") for path in (REPO / top).rglob("*")
               if path.is_file() and path.suffix != ".md" and weak.search(path.read_text(errors="replace"))]
    assert len(list((REPO / "roles").rglob("*.yml"))) > 20  # the files were there to be read
    assert shipped == []
    for name in (COMPUTE_A, LAPTOP):
        deployed_files = node(name, "sh", "-c", f"cat {HOME}/.hpc-vllm/services/*/run.sh {HOME}/.hpc-vllm/services/*/*.json "
                              "2>/dev/null").stdout
        assert "StrictHostKeyChecking=yes" in deployed_files and not weak.search(deployed_files)
    cmdlines = node(COMPUTE_A, "sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '").stdout
    assert "StrictHostKeyChecking=yes" in cmdlines and not weak.search(cmdlines)


def test_tunnel_key_gets_no_pty(deployed):
    key = f"{HOME}/.hpc-vllm/tunnels/{COMPUTE_A}/forward_ed25519"
    known_hosts = key.rsplit("/", 1)[0] + "/known_hosts"
    out = node(LAPTOP, "timeout", "20", "ssh", "-tt", "-F", "none", "-i", key, "-o", "IdentitiesOnly=yes",
               "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
               "-o", f"HostKeyAlias={BASTION_A}", "-l", USER, BASTION_A, user=USER, timeout=40)
    assert out.returncode != 0
    assert "PTY allocation request failed" in out.stderr + out.stdout
    assert "uid=" not in out.stdout and "$ " not in out.stdout


def test_listeners_unreachable_from_other_hosts(deployed):
    """The login node's listener and vLLM take no connection from another host; controls: the same ports
    answer on the host's own loopback, and the login node's sshd answers from the laptop."""
    bastion_ip = node(LAPTOP, "getent", "hosts", BASTION_A).stdout.split()[0]
    assert connects(LAPTOP, bastion_ip, 22)  # control: the network path exists
    assert not connects(LAPTOP, bastion_ip, REMOTE_PORT)
    assert connects(BASTION_A, "127.0.0.1", REMOTE_PORT)
    compute_ip = node(BASTION_A, "getent", "hosts", COMPUTE_A).stdout.split()[0]
    assert connects(BASTION_A, compute_ip, 22)  # control
    assert not connects(BASTION_A, compute_ip, VLLM_PORT)
    assert connects(COMPUTE_A, "127.0.0.1", VLLM_PORT)
    for port in (18000, 18001):
        laptop_ip = node(BASTION_A, "getent", "hosts", LAPTOP).stdout.split()
        if laptop_ip:
            assert not connects(BASTION_A, laptop_ip[0], port)
        assert connects(LAPTOP, "127.0.0.1", port)


def test_no_socket_of_the_deployment_listens_off_loopback(deployed):
    """vLLM's API server, engine and workers, the tunnels on every node: every socket the deployment's user
    listens on (TCP) or binds (UDP) is on loopback. vLLM's CPU workers bind torch.distributed/gloo ports on
    the cluster address unless VLLM_HOST_IP and GLOO_SOCKET_IFNAME say otherwise (vllm_server sets them)."""
    off_loopback, seen = {}, {}
    for name in NODES:
        sockets = sockets_of_user(name)
        seen[name] = {port for proto, address, port in sockets}
        off_loopback[name] = [s for s in sockets if not is_loopback(s[1])]
    print("sockets of the deployment per node:", {name: sorted(ports) for name, ports in seen.items()})
    assert off_loopback == {name: [] for name in NODES}
    # control: the scan sees the deployment's known listeners (vLLM, the login nodes' tunnels, the laptop's)
    for compute, logins, local_port in CLUSTERS.values():
        assert VLLM_PORT in seen[compute]
        assert len(seen[compute]) > 1, "the engine's own sockets (gloo) were not found"
        for login in logins:
            assert REMOTE_PORT in seen[login]
        assert local_port in seen[LAPTOP]
