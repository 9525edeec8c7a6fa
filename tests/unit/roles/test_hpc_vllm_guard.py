# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The middleware vllm_server loads into vLLM so that the API key guards every path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio

import pytest

from ansible_collections.hpc.vllm.tests.unit.scripts import load_script

KEY = "s3cret-key"


def load_guard():
    return load_script("hpc_vllm_guard", "roles", "vllm_server", "files", "hpc_vllm_guard.py")


async def inner_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def call(monkeypatch, key, path, headers=(), method="POST", scope_type="http", root_path=""):
    if key is None:
        monkeypatch.delenv("VLLM_API_KEY", raising=False)
    else:
        monkeypatch.setenv("VLLM_API_KEY", key)
    guard = load_guard().RequireKeyEverywhere(inner_app)
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": scope_type, "path": root_path + path, "root_path": root_path, "method": method,
             "headers": [(name.encode(), value.encode()) for name, value in headers]}
    asyncio.run(guard(scope, receive, send))
    return sent[0].get("status", sent[0].get("code"))


@pytest.mark.parametrize("path, headers, method, root_path, expected", [
    ("/v1/chat/completions", [("authorization", "Bearer " + KEY)], "POST", "", 200),
    ("/invocations", [("Authorization", "bearer " + KEY)], "POST", "", 200),
    ("/metrics", [("Authorization", "Bearer " + KEY)], "GET", "", 200),
    ("/health", [], "GET", "", 200),
    ("/v1/models", [], "OPTIONS", "", 200),
    ("/v1/models", [("Authorization", "Bearer " + KEY)], "GET", "/prefix", 200),
])
def test_allowed(monkeypatch, path, headers, method, root_path, expected):
    assert call(monkeypatch, KEY, path, headers, method, root_path=root_path) == expected


@pytest.mark.parametrize("path, headers", [
    ("/invocations", []),
    ("/metrics", []),
    ("/tokenize", []),
    ("/load", []),
    ("/v1/chat/completions", [("Authorization", "Bearer wrong")]),
    ("/v1/chat/completions", [("Authorization", "Basic " + KEY)]),
    ("/v1/chat/completions", [("Authorization", KEY)]),
    ("/health/../invocations", []),
    ("/healthz", []),
])
def test_refused(monkeypatch, path, headers):
    assert call(monkeypatch, KEY, path, headers) == 401


def test_websocket_refused_without_key(monkeypatch):
    assert call(monkeypatch, KEY, "/v1/realtime", scope_type="websocket") == 1008


def test_no_key_configured_lets_everything_through(monkeypatch):
    assert call(monkeypatch, None, "/invocations") == 200
