# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra checks shared by every molecule scenario that runs hpc.vllm.vllm_server.

Each check runs on the node as the deploying user. The API key is read on the node from the
0600 environment file by a small Python script, so it never travels on a command line either.
"""
import json
import textwrap

import pytest

SERVICE = "hpc-vllm-server"

# Runs on the node: python3 - ENV_FILE PORT ACTION [ARGS...]
NODE_CLIENT = textwrap.dedent(
    r"""
    import json, os, sys, time, urllib.error, urllib.request

    env_file, port, action = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    env = dict(line.rstrip("\n").split("=", 1) for line in open(env_file)
               if line.strip() and not line.startswith("#"))
    key = env.get("VLLM_API_KEY", "")
    base = "http://127.0.0.1:%d" % port

    def call(path, body=None, auth=True):
        headers = {"Content-Type": "application/json"}
        if auth and key:
            headers["Authorization"] = "Bearer " + key
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, None

    def server_pids():
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
            except OSError:
                continue
            if b"vllm.entrypoints.openai.api_server" in argv:
                pids.append(int(pid))
        return sorted(pids)

    if action == "chat":
        prompt = sys.argv[5] if len(sys.argv) > 5 else "Say hello."
        status, reply = call("/v1/chat/completions", {
            "model": sys.argv[4], "max_tokens": 8,
            "messages": [{"role": "user", "content": prompt}]})
        print(json.dumps({"status": status, "reply": reply}))
    elif action == "without-key":
        # vLLM's own check guards only /v1 and a few prefixes; these must refuse too.
        print(json.dumps({
            "GET /v1/models": call("/v1/models", auth=False)[0],
            "GET /metrics": call("/metrics", auth=False)[0],
            "POST /invocations": call("/invocations", {"model": sys.argv[4], "prompt": "hi", "max_tokens": 2},
                                      auth=False)[0],
            "POST /tokenize": call("/tokenize", {"model": sys.argv[4], "prompt": "hi"}, auth=False)[0],
            "GET /health": call("/health", auth=False)[0],
        }))
    elif action == "argv-scan":
        leaks = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if key.encode() in open("/proc/%s/cmdline" % pid, "rb").read():
                    leaks.append(pid)
            except OSError:
                pass
        print(json.dumps({"key_set": bool(key), "servers": server_pids(), "leaks": leaks}))
    elif action == "log-scan":
        # Here, so that neither the key nor the log's content travels to the test host.
        path = sys.argv[4]
        needle = sys.argv[5] if len(sys.argv) > 5 else None
        text = open(path, encoding="utf-8").read()
        bad, loggers = [], {}
        for number, line in enumerate(text.splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict) or not record.get("level") or "message" not in record:
                bad.append(number)
                continue
            name = record.get("logger", "")
            loggers[name] = loggers.get(name, 0) + 1
        print(json.dumps({"lines": len(text.splitlines()), "bad_lines": bad[:10], "loggers": loggers,
                          "key_set": bool(key), "key_found": bool(key) and key in text,
                          "needle_found": needle is not None and needle in text}))
    elif action == "kill-and-wait":
        before = server_pids()
        os.kill(before[0], 9)
        killed_at = time.time()
        while time.time() - killed_at < 600:
            time.sleep(2)
            now = server_pids()
            if now and now[0] not in before:
                try:
                    if call("/health")[0] == 200 and call("/v1/models")[0] == 200:
                        break
                except OSError:
                    pass
        print(json.dumps({"before": before, "after": server_pids(),
                          "seconds": round(time.time() - killed_at, 1),
                          "models_status": call("/v1/models")[0]}))
    """
)


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def service_dir(host):
    return "%s/.hpc-vllm/services/%s" % (host.user().home, SERVICE)


def node_client(host, service_dir, hostvars, action, *extra):
    port = hostvars.get("vllm_port", 8000)
    out = host.check_output(
        "python3 -c" + " %s" * (4 + len(extra)),
        NODE_CLIENT, service_dir + "/env", str(port), action, *extra,
    )
    return json.loads(out)


def test_vllm_listens_on_loopback_only(host, hostvars):
    port = hostvars.get("vllm_port", 8000)
    lines = host.check_output("ss -Hltn 'sport = :%s'", str(port)).splitlines()
    local_addresses = [line.split()[3] for line in lines]
    assert local_addresses, "nothing listens on port %s" % port
    assert all(addr == "127.0.0.1:%s" % port for addr in local_addresses), local_addresses


def test_chat_completion_from_the_node(host, service_dir, hostvars):
    model = hostvars.get("vllm_served_model_name") or "tiny-llama"
    result = node_client(host, service_dir, hostvars, "chat", model)
    print(json.dumps(result, indent=2))
    assert result["status"] == 200
    reply = result["reply"]
    assert reply["object"] == "chat.completion"
    assert reply["model"] == model
    assert isinstance(reply["choices"][0]["message"]["content"], str)
    assert reply["usage"]["completion_tokens"] > 0


def test_api_key_is_enforced_on_every_path(host, service_dir, hostvars):
    model = hostvars.get("vllm_served_model_name") or "tiny-llama"
    assert node_client(host, service_dir, hostvars, "without-key", model) == {
        "GET /v1/models": 401,
        "GET /metrics": 401,
        "POST /invocations": 401,
        "POST /tokenize": 401,
        "GET /health": 200,
    }


def test_secret_files_are_private(host, service_dir):
    user = host.user().name
    env_file = host.file(service_dir + "/env")
    assert env_file.mode == 0o600
    assert env_file.user == user
    assert host.file(service_dir).mode == 0o700


def test_api_key_absent_from_every_argv(host, service_dir, hostvars):
    scan = node_client(host, service_dir, hostvars, "argv-scan")
    assert scan["key_set"], "the scenario must set vllm_api_key, or this check proves nothing"
    assert scan["servers"], "no vLLM process found to check"
    assert scan["leaks"] == []


def test_supervisor_is_the_expected_one(host, service_dir, hostvars):
    supervisor = hostvars["expected_supervisor"]
    if supervisor == "systemd":
        assert host.service(SERVICE).is_running
        assert host.service(SERVICE).is_enabled
    elif supervisor == "systemd_user":
        runtime = "XDG_RUNTIME_DIR=/run/user/%s" % host.user().uid
        assert host.check_output("%s systemctl --user is-active %s", runtime, SERVICE) == "active"
        assert host.check_output("%s systemctl --user is-enabled %s", runtime, SERVICE) == "enabled"
    else:
        assert host.run("%s/supervise.sh status %s", service_dir, service_dir).rc == 0
        assert not host.file("%s/.config/systemd/user/%s.service" % (host.user().home, SERVICE)).exists


def test_supervisor_restarts_a_killed_vllm(host, service_dir, hostvars):
    result = node_client(host, service_dir, hostvars, "kill-and-wait")
    print("vLLM back after %(seconds)s s: pids %(before)s -> %(after)s" % result)
    assert result["after"] and result["after"][0] not in result["before"]
    assert result["models_status"] == 200


def test_vllm_log_is_private_json_lines(host, service_dir, hostvars):
    model = hostvars.get("vllm_served_model_name") or "tiny-llama"
    # At least one request, so that uvicorn has written an access line.
    assert node_client(host, service_dir, hostvars, "chat", model)["status"] == 200
    log = host.file(service_dir + "/vllm.jsonl")
    assert log.exists
    assert log.user == host.user().name
    # Private: the file itself, or the directory that holds it.
    assert log.mode & 0o077 == 0 or host.file(service_dir).mode & 0o077 == 0
    assert host.file(service_dir + "/logging.json").mode == 0o600
    scan = node_client(host, service_dir, hostvars, "log-scan", service_dir + "/vllm.jsonl")
    print(json.dumps(scan, indent=2))
    assert scan["lines"] > 0
    assert scan["bad_lines"] == [], "lines that are not JSON objects with a level and a message"
    assert sum(count for name, count in scan["loggers"].items() if name == "vllm" or name.startswith("vllm.")) > 0
    assert scan["loggers"].get("uvicorn.access", 0) > 0, "uvicorn's access lines are not in vllm.jsonl"


def test_vllm_log_holds_neither_key_nor_prompt(host, service_dir, hostvars):
    model = hostvars.get("vllm_served_model_name") or "tiny-llama"
    prompt = "hpc-vllm log probe 5e2a: a tortoise counts its toes"
    assert node_client(host, service_dir, hostvars, "chat", model, prompt)["status"] == 200
    scan = node_client(host, service_dir, hostvars, "log-scan", service_dir + "/vllm.jsonl", prompt)
    assert scan["key_set"], "the scenario must set vllm_api_key, or this check proves nothing"
    assert not scan["key_found"], "the API key is in vllm.jsonl"
    # vllm_log_requests is off by default: no prompt may reach the log.
    assert not scan["needle_found"], "the prompt is in vllm.jsonl"
