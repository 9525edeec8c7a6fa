"""The bastion role in the multi-cluster lab: tunnel-only keys on a login node, checked with real sshd.

Run as root on the lab host with the controller venv:

    python -m pytest tests/lab/test_bastion.py -q -p no:cacheprovider

The role is driven through ansible-runner and judged by its events (which task changed on which
host), never by console text. Key pairs are made on the node that uses them (compute-a for the
reverse key, the laptop for the forward key): only public keys leave those nodes. Every "refused"
probe is paired with the same probe succeeding where it must, so a probe that cannot succeed
(a wrong address, a missing tool) cannot pass as a refusal. Every ssh runs under `timeout` inside
its container, and every background tunnel is killed by its pid.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from pathlib import Path

import pytest

from lablib import changed, failure_messages, node, run, run_playbook, task_results, wait_for


REPO = Path(__file__).resolve().parents[2]
TOPOLOGY = REPO / "lab" / "topology"
OUT = REPO / "build" / "lab" / "topology"
INVENTORY = OUT / "hosts.yml"
PLAYBOOK = REPO / "tests" / "lab" / "playbooks" / "bastion.yml"

BASTION, COMPUTE, LAPTOP = "hpcv-bastion-a", "hpcv-compute-a", "hpcv-laptop"
OTHER_BASTION = "hpcv-bastion-b2"
CAMPUS, CLUSTER_A = "hpcv-campus", "hpcv-cluster-a"
USER = "researcher"
HOME = f"/home/{USER}"
AUTHORIZED_KEYS = f"{HOME}/.ssh/authorized_keys"
KEY = f"{HOME}/.ssh/hpcv_bastion_test"  # private key path on compute-a and on the laptop
NODE_KNOWN_HOSTS = "/tmp/hpcv_bastion_known_hosts"
PORT = 8020
# The forced command: the role's session script, by absolute path, with the key's direction and port.
SESSION_SCRIPT = f"{HOME}/.hpc-vllm/bin/hpc-vllm-tunnel-session"
INSTALL_SCRIPT = "Install the session script that every tunnel key runs"


def ssh_argv(target: str, *args: str, limit: int = 15, command: tuple[str, ...] = ()) -> list[str]:
    """argv of a bounded ssh from a lab node with its tunnel key and the pinned lab known_hosts."""
    return ["timeout", str(limit), "ssh", "-i", KEY, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={NODE_KNOWN_HOSTS}",
            "-o", "ConnectTimeout=5", *args, f"{USER}@{target}", *command]


def key_ssh(src: str, target: str, *args: str, limit: int = 15, stdin: str | None = None,
            command: tuple[str, ...] = ()):
    return node(src, *ssh_argv(target, *args, limit=limit, command=command), user=USER, timeout=limit + 15,
                stdin=stdin)


def controller_ssh(target: str, *args: str, stdin: str | None = None, command: tuple[str, ...] = ()):
    """ssh with the lab's controller key (an ordinary, unrestricted key): the control for refusals."""
    return run("ssh", "-F", str(OUT / "ssh_config"), *args, target, *command, timeout=30, stdin=stdin)


@contextlib.contextmanager
def tunnel(src: str, target: str, *args: str, limit: int = 60):
    """A background `ssh -N` inside src, killed by its pid on exit. Yields the host-side Popen."""
    pidfile = f"/tmp/hpcv_bastion_tunnel_{uuid.uuid4().hex[:8]}.pid"
    script = f'echo $$ > {pidfile}; exec "$@"'
    argv = ssh_argv(target, "-N", "-o", "ExitOnForwardFailure=yes", *args, limit=limit)
    proc = subprocess.Popen(["podman", "exec", "--user", USER, src, "sh", "-c", script, "tunnel", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        node(src, "sh", "-c", f"kill $(cat {pidfile}) 2>/dev/null; rm -f {pidfile}", timeout=30)
        try:
            proc.communicate(timeout=limit + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def listeners(name: str) -> set[str]:
    """Local addresses of the TCP listeners on a node, as the user sees them."""
    out = node(name, "ss", "-Hltn", user=USER)
    assert out.returncode == 0, out.stderr
    return {line.split()[3] for line in out.stdout.splitlines() if line.strip()}


def banner(name: str, port: int) -> str:
    """The first bytes a TCP server on the node's 127.0.0.1:port sends ('' when none or refused)."""
    script = ("import socket, sys\n"
              "try:\n"
              "    s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)\n"
              "    s.settimeout(3)\n"
              "    print(s.recv(64).decode(errors='replace').strip())\n"
              "except OSError as e:\n"
              "    print('ERROR', e)\n")
    out = node(name, "python3", "-c", script, str(port), timeout=30)
    return out.stdout.strip()


# ---------------------------------------------------------------------------------------------
def run_role(tmp_path: Path, keys: list, exclusive: bool | None = None, host: str = BASTION,
             check: bool = False, diff: bool = False):
    """The role through ansible-runner; returns the runner (status, rc, events)."""
    extravars = {"bastion_tunnel_keys": keys, "bastion_test_host": host}
    if exclusive is not None:
        extravars["bastion_tunnel_keys_exclusive"] = exclusive
    cmdline = " ".join(flag for flag, on in (("--check", check), ("--diff", diff)) if on)
    return run_playbook(tmp_path, PLAYBOOK, INVENTORY, extravars, cmdline or None)


AUTHORIZE = "Authorize the tunnel keys in authorized_keys"


def authorized_state(name: str = BASTION, user: str = USER) -> tuple[str, str]:
    """(content, mtime in ns) of a user's authorized_keys on a node."""
    path = f"/home/{user}/.ssh/authorized_keys"
    content = node(name, "cat", path)
    mtime = node(name, "stat", "-c", "%.9Y", path)
    assert content.returncode == 0 and mtime.returncode == 0, content.stderr + mtime.stderr
    return content.stdout, mtime.stdout.strip()


def make_key(name: str) -> str:
    """A fresh tunnel key pair made on the node as the user; returns only the public key line."""
    out = node(name, "sh", "-c", f'rm -f {KEY} {KEY}.pub && ssh-keygen -q -t ed25519 -N "" -C "tunnel@$(hostname)" '
               f'-f {KEY} && cat {KEY}.pub', user=USER)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def expected_line(pub: str, name: str, direction: str, port: int) -> str:
    kind, blob = pub.split()[:2]
    if direction == "reverse":
        limits = f'permitlisten="127.0.0.1:{port}",permitopen=":1"'
    else:
        limits = f'permitopen="127.0.0.1:{port}",permitlisten="NONE:1"'
    forced = f"exec /bin/sh {SESSION_SCRIPT} {direction} {port} {name}"  # the deployment tells its sessions apart
    return f'restrict,port-forwarding,{limits},command="{forced}" {kind} {blob} hpc-vllm:{name}:{direction}'


# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab() -> dict:
    up = run(str(TOPOLOGY), "up", timeout=600)
    assert up.returncode == 0, f"lab/topology up failed:\n{up.stdout}\n{up.stderr}"
    out = run("podman", "inspect", "-f", f'{{{{ (index .NetworkSettings.Networks "{CLUSTER_A}").IPAddress }}}} '
              f'{{{{ (index .NetworkSettings.Networks "{CAMPUS}").IPAddress }}}}', BASTION)
    cluster_addr, campus_addr = out.stdout.split()
    for name in (COMPUTE, LAPTOP):
        assert run("podman", "cp", str(OUT / "known_hosts"), f"{name}:{NODE_KNOWN_HOSTS}").returncode == 0
        assert node(name, "chmod", "0644", NODE_KNOWN_HOSTS).returncode == 0
    return {"bastion_cluster": cluster_addr, "bastion_campus": campus_addr}


@pytest.fixture(scope="module")
def applied(lab, tmp_path_factory) -> dict:
    """Seed researcher's authorized_keys with a line of its own, make both tunnel keys on their
    nodes, then run the role twice with them."""
    tmp = tmp_path_factory.mktemp("bastion")
    controller_pub = (OUT / "id_ed25519.pub").read_text().strip()
    seed_dir = tmp / "seed"
    seed_dir.mkdir()
    assert run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "seeded-by-test",
               "-f", str(seed_dir / "key")).returncode == 0
    seeded = 'from="192.0.2.1" ' + (seed_dir / "key.pub").read_text().strip()
    # A clean start: the lab's controller key, one line the user wrote, nothing of earlier runs.
    reset = node(BASTION, "sh", "-c", f'printf "%s\\n%s\\n" "$1" "$2" > {AUTHORIZED_KEYS}', "reset",
                 controller_pub, seeded, user=USER)
    assert reset.returncode == 0, reset.stderr
    mallory_before = authorized_state(BASTION, "mallory")
    reverse_pub, forward_pub = make_key(COMPUTE), make_key(LAPTOP)
    keys = [
        {"name": "cluster_a", "direction": "reverse", "port": PORT, "public_key": reverse_pub},
        {"name": "cluster_a", "direction": "forward", "port": PORT, "public_key": forward_pub},
    ]
    check = run_role(tmp, keys, check=True, diff=True)
    after_check = authorized_state()
    first = run_role(tmp, keys, diff=True)
    second = run_role(tmp, keys)
    return {"tmp": tmp, "keys": keys, "check": check, "after_check": after_check, "first": first,
            "second": second, "seeded": seeded, "controller_pub": controller_pub,
            "mallory_before": mallory_before, "reverse_pub": reverse_pub, "forward_pub": forward_pub, **lab}


# ---------------------------------------------------------------------------------------------
def test_check_mode_reports_without_writing(applied):
    check = applied["check"]
    assert check.status == "successful", failure_messages(check)
    assert (AUTHORIZE, BASTION) in changed(check)
    content, dummy = applied["after_check"]
    assert "hpc-vllm:" not in content
    assert applied["seeded"] in content


def test_first_run_changes_authorized_keys(applied):
    first = applied["first"]
    assert first.status == "successful", failure_messages(first)
    # the session script is installed with the first keys (unless an earlier deploy put it there)
    assert (AUTHORIZE, BASTION) in changed(first)
    assert changed(first) <= {(AUTHORIZE, BASTION), (INSTALL_SCRIPT, BASTION)}
    diffs = [res.get("diff") for task, host, res in task_results(first) if task == AUTHORIZE]
    assert diffs, "no result for the authorized_keys task"


def test_second_run_changes_nothing(applied):
    second = applied["second"]
    assert second.status == "successful", failure_messages(second)
    assert changed(second) == set()
    # the same task ran and was ok: it was not skipped
    assert any(task == AUTHORIZE and host == BASTION for task, host, dummy in task_results(second))


def test_authorized_keys_lines(applied):
    content, dummy = authorized_state()
    lines = content.splitlines()
    assert lines == [
        applied["controller_pub"],
        applied["seeded"],
        expected_line(applied["reverse_pub"], "cluster_a", "reverse", PORT),
        expected_line(applied["forward_pub"], "cluster_a", "forward", PORT),
    ]
    stat = node(BASTION, "stat", "-c", "%a %U", f"{HOME}/.ssh", AUTHORIZED_KEYS, SESSION_SCRIPT.rsplit("/", 1)[0],
                SESSION_SCRIPT)
    assert stat.stdout.split("\n")[:4] == [f"700 {USER}", f"600 {USER}", f"700 {USER}", f"700 {USER}"]


def test_other_users_untouched(applied):
    assert authorized_state(BASTION, "mallory") == applied["mallory_before"]


def test_role_warns_about_unix_socket_forwarding(applied):
    """permitopen/permitlisten do not cover Unix-socket forwarding; the role says so (lab sshd allows it)."""
    messages = [str(item.get("msg", "")) for task, host, res in task_results(applied["first"])
                if task == "Warn about what could not be checked" for item in res.get("results", [])]
    assert any("AllowStreamLocalForwarding" in message for message in messages), messages


# ---------------------------------------------------------------------------------------------
# The reverse key, from compute-a.
def test_reverse_key_runs_no_command(applied):
    out = key_ssh(COMPUTE, applied["bastion_cluster"], command=("id",))
    assert out.returncode not in (0, 124), out
    assert "uid=" not in out.stdout
    assert "tunnel-only key" in out.stderr, out.stderr
    control = controller_ssh(BASTION, command=("id",))
    assert control.returncode == 0 and "uid=1500" in control.stdout, control.stderr


def test_reverse_key_gets_no_shell(applied):
    out = key_ssh(COMPUTE, applied["bastion_cluster"], "-tt", stdin="echo SHELL-$((40+2))\nexit\n")
    assert "SHELL-42" not in out.stdout
    assert out.returncode not in (0, 124), out
    control = controller_ssh(BASTION, "-tt", stdin="echo SHELL-$((40+2))\nexit\n")
    assert "SHELL-42" in control.stdout, control.stdout + control.stderr


def test_reverse_key_listens_only_on_its_port(applied):
    target = applied["bastion_cluster"]
    assert f"127.0.0.1:{PORT}" not in listeners(BASTION)
    with tunnel(COMPUTE, target, "-R", f"127.0.0.1:{PORT}:127.0.0.1:22") as allowed:
        assert wait_for(lambda: f"127.0.0.1:{PORT}" in listeners(BASTION)), allowed.poll()
        assert allowed.poll() is None, "the allowed tunnel exited"
        for spec in (f"127.0.0.1:{PORT + 1}:127.0.0.1:22", f"0.0.0.0:{PORT + 1}:127.0.0.1:22",
                     f"localhost:{PORT + 1}:127.0.0.1:22"):
            refused = key_ssh(COMPUTE, target, "-N", "-o", "ExitOnForwardFailure=yes", "-R", spec)
            assert refused.returncode == 255, (spec, refused)
            assert "remote port forwarding failed" in refused.stderr, refused.stderr
        assert f"127.0.0.1:{PORT + 1}" not in listeners(BASTION)
    assert wait_for(lambda: f"127.0.0.1:{PORT}" not in listeners(BASTION))


def test_reverse_key_opens_nothing(applied):
    """-W (the same direct-tcpip request as -L) through the reverse key: refused for any target,
    and even the permitopen entry itself (the empty host) leads nowhere. The forward key, asking for
    its own port, is let through by sshd (it fails only because nothing listens there)."""
    target = applied["bastion_cluster"]
    for dest in ("127.0.0.1:22", f"127.0.0.1:{PORT}", f"{target}:22", "localhost:22"):
        out = key_ssh(COMPUTE, target, "-W", dest, stdin="")
        assert out.returncode != 0 and "administratively prohibited" in out.stderr, (dest, out.stderr)
    empty = key_ssh(COMPUTE, target, "-W", "[]:1", stdin="")
    assert empty.returncode != 0 and "SSH-2.0" not in empty.stdout, empty
    control = key_ssh(LAPTOP, applied["bastion_campus"], "-W", f"127.0.0.1:{PORT}", stdin="")
    assert "administratively prohibited" not in control.stderr, control.stderr
    assert "Connection refused" in control.stderr, control.stderr


# ---------------------------------------------------------------------------------------------
# The forward key, from the laptop, through the reverse tunnel to compute-a's sshd.
def test_forward_key_reaches_the_reverse_tunnel_only(applied):
    campus, cluster = applied["bastion_campus"], applied["bastion_cluster"]
    with tunnel(COMPUTE, cluster, "-R", f"127.0.0.1:{PORT}:127.0.0.1:22") as reverse:
        assert wait_for(lambda: f"127.0.0.1:{PORT}" in listeners(BASTION)), reverse.poll()
        with tunnel(LAPTOP, campus, "-L", f"127.0.0.1:18000:127.0.0.1:{PORT}",
                    "-L", "127.0.0.1:18001:127.0.0.1:22", "-L", f"127.0.0.1:18002:127.0.0.1:{PORT + 1}") as fwd:
            assert wait_for(lambda: "127.0.0.1:18000" in listeners(LAPTOP)), fwd.poll()
            # allowed: the banner of compute-a's sshd arrives through both hops
            assert wait_for(lambda: banner(LAPTOP, 18000).startswith("SSH-2.0-OpenSSH"), timeout=10), \
                banner(LAPTOP, 18000)
            # refused: the same listener kind to other ports of the bastion yields nothing
            for port in (18001, 18002):
                got = banner(LAPTOP, port)
                assert not got.startswith("SSH-2.0"), (port, got)
            assert fwd.poll() is None


def test_forward_key_listens_nowhere(applied):
    campus = applied["bastion_campus"]
    for spec in (f"127.0.0.1:{PORT}:127.0.0.1:22", "127.0.0.1:18500:127.0.0.1:22", "NONE:1:127.0.0.1:22",
                 "none:1:127.0.0.1:22"):
        out = key_ssh(LAPTOP, campus, "-N", "-o", "ExitOnForwardFailure=yes", "-R", spec)
        assert out.returncode == 255 and "remote port forwarding failed" in out.stderr, (spec, out)
    out = key_ssh(LAPTOP, campus, command=("id",))
    assert "uid=" not in out.stdout and out.returncode not in (0, 124), out
    # control: the reverse key may listen on exactly that port
    with tunnel(COMPUTE, applied["bastion_cluster"], "-R", f"127.0.0.1:{PORT}:127.0.0.1:22") as allowed:
        assert wait_for(lambda: f"127.0.0.1:{PORT}" in listeners(BASTION)), allowed.poll()


# ---------------------------------------------------------------------------------------------
# Exclusive mode and teardown.
def test_exclusive_removes_only_unlisted_markers(applied):
    tmp = applied["tmp"]
    keys = applied["keys"]
    # not exclusive: dropping the forward key from the list leaves its line alone
    kept = run_role(tmp, keys[:1])
    assert kept.status == "successful", failure_messages(kept)
    assert changed(kept) == set()
    exclusive = run_role(tmp, keys[:1], exclusive=True, diff=True)
    assert exclusive.status == "successful", failure_messages(exclusive)
    assert changed(exclusive) == {("Remove the tunnel keys that bastion_tunnel_keys no longer lists", BASTION)}
    lines = authorized_state()[0].splitlines()
    assert "hpc-vllm:cluster_a:forward" not in "\n".join(lines)
    assert expected_line(applied["reverse_pub"], "cluster_a", "reverse", PORT) in lines
    assert applied["seeded"] in lines and applied["controller_pub"] in lines
    # back to both keys (the later tests of this module, if any, see the full set)
    restored = run_role(tmp, keys, exclusive=True)
    assert changed(restored) == {(AUTHORIZE, BASTION)}
    assert authorized_state()[0].splitlines()[-1] == expected_line(applied["forward_pub"], "cluster_a", "forward", PORT)


def test_port_change_replaces_the_line(applied):
    tmp, keys = applied["tmp"], applied["keys"]
    moved = [dict(keys[0], port=PORT + 5), keys[1]]
    result = run_role(tmp, moved)
    assert changed(result) == {(AUTHORIZE, BASTION)}
    content = authorized_state()[0]
    assert content.count("hpc-vllm:cluster_a:reverse") == 1
    assert f'permitlisten="127.0.0.1:{PORT + 5}"' in content
    back = run_role(tmp, keys)
    assert changed(back) == {(AUTHORIZE, BASTION)}
    assert f'permitlisten="127.0.0.1:{PORT}"' in authorized_state()[0]


# ---------------------------------------------------------------------------------------------
# Bad input: the run fails in preflight, before authorized_keys changes, naming the variable.
PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----"


def _bad_cases():
    def key(**over):
        return lambda pubs: [dict({"name": "bad", "direction": "reverse", "port": PORT,
                                   "public_key": pubs["reverse"]}, **over)]

    return [
        ("port-zero", key(port=0), "bastion_tunnel_keys[0].port"),
        ("port-too-big", key(port=70000), "bastion_tunnel_keys[0].port"),
        ("direction", key(direction="sideways"), "direction"),
        ("name-upper", key(name="Cluster_A"), "bastion_tunnel_keys[0].name"),
        ("name-colon", key(name="a:b"), "bastion_tunnel_keys[0].name"),
        ("name-empty", key(name=""), "bastion_tunnel_keys[0].name"),
        ("private-key", key(public_key=PRIVATE), "private key"),
        ("options-prepended", lambda pubs: key(public_key='command="id" ' + pubs["reverse"])(pubs),
         "bastion_tunnel_keys[0].public_key"),
        ("no-blob", key(public_key="ssh-ed25519"), "bastion_tunnel_keys[0].public_key"),
        ("not-base64", key(public_key="ssh-ed25519 AAAA$$$$ x"), "bastion_tunnel_keys[0].public_key"),
        ("duplicate-pair", lambda pubs: key()(pubs) + [dict(key()(pubs)[0], public_key=pubs["forward"])],
         "each (name, direction)"),
        ("same-key-twice", lambda pubs: key()(pubs) + [dict(key()(pubs)[0], direction="forward")],
         "each public key once"),
        ("missing-port", lambda pubs: [{"name": "bad", "direction": "reverse", "public_key": pubs["reverse"]}],
         "port"),
        ("already-authorized", lambda pubs: key(public_key=pubs["seeded"].split(" ", 1)[1])(pubs),
         "already in"),
    ]


BAD = _bad_cases()


@pytest.mark.parametrize(("case", "make", "expected"), BAD, ids=[row[0] for row in BAD])
def test_bad_input_fails_before_any_change(applied, case, make, expected):
    pubs = {"reverse": applied["reverse_pub"], "forward": applied["forward_pub"], "seeded": applied["seeded"]}
    before = authorized_state()
    result = run_role(applied["tmp"], make(pubs))
    assert result.status == "failed", case
    assert changed(result) == set()
    assert authorized_state() == before
    messages = failure_messages(result)
    assert any(expected in message for message in messages), messages
    assert any("bastion_tunnel_keys" in message for message in messages), messages
    assert not any(task == AUTHORIZE for task, dummy, dummy2 in task_results(result) + task_results(
        result, "runner_on_failed"))


# ---------------------------------------------------------------------------------------------
# sshd settings, read from the config files as the user can.
@contextlib.contextmanager
def sshd_dropin(name: str, text: str, mode: str = "0644"):
    path = "/etc/ssh/sshd_config.d/hpcv-bastion-test.conf"
    assert node(name, "sh", "-c", f'printf "%s\\n" "$1" > {path} && chmod {mode} {path}', "dropin",
                text).returncode == 0
    try:
        yield path
    finally:
        node(name, "rm", "-f", path)


@pytest.mark.parametrize(("setting", "direction", "ok"), [
    ("AllowTcpForwarding local", "reverse", False),
    ("AllowTcpForwarding local", "forward", True),
    ("AllowTcpForwarding remote", "forward", False),
    ("AllowTcpForwarding remote", "reverse", True),
    ("AllowTcpForwarding no", "reverse", False),
    ("DisableForwarding yes", "forward", False),
    ("AllowStreamLocalForwarding no", "reverse", True),
])
def test_sshd_forwarding_settings(applied, setting, direction, ok):
    """sshd is not restarted: the role reads the files, so what counts is what they say."""
    keys = [{"name": "probe", "direction": direction, "port": PORT, "public_key": applied["reverse_pub"]}]
    before = authorized_state(OTHER_BASTION)
    with sshd_dropin(OTHER_BASTION, setting):
        result = run_role(applied["tmp"], keys, host=OTHER_BASTION, check=True)
    assert authorized_state(OTHER_BASTION) == before
    if ok:
        assert result.status == "successful", failure_messages(result)
    else:
        assert result.status == "failed"
        messages = failure_messages(result)
        assert any(setting in message and "hpcv-bastion-test.conf" in message for message in messages), messages
        assert any(("remote" if direction == "reverse" else "local") + " forwarding" in m for m in messages), messages


def test_unreadable_sshd_config_warns(applied):
    keys = [{"name": "probe", "direction": "reverse", "port": PORT, "public_key": applied["reverse_pub"]}]
    with sshd_dropin(OTHER_BASTION, "AllowTcpForwarding local", mode="0600"):
        result = run_role(applied["tmp"], keys, host=OTHER_BASTION, check=True)
    # the setting that would forbid the key is unreadable: a warning, not a failure
    assert result.status == "successful", failure_messages(result)
    messages = [str(item.get("msg", "")) for task, host, res in task_results(result)
                if task == "Warn about what could not be checked" for item in res.get("results", [])]
    assert any("Could not read" in m and "hpcv-bastion-test.conf" in m for m in messages), messages
