# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ASGI middleware that demands vLLM's API key on every path but /health.

vLLM's own key check guards only paths under /v1, /v2, /inference and /cohere: in vLLM 0.32,
POST /invocations generates text, and /metrics, /tokenize and /load answer, without any key.
On a shared compute or login node every local user can reach a loopback port, so the key must
guard everything. vLLM loads this class with ``--middleware hpc_vllm_guard.RequireKeyEverywhere``
and it reads the key from VLLM_API_KEY, as vLLM does, so the key never appears on a command line.
/health stays open: it tells nothing but liveness, and supervisors and probes need it.
"""

import hashlib
import hmac
import os

OPEN_PATHS = frozenset(["/health"])


def _bearer_digest(headers):
    for name, value in headers:
        if name.lower() == b"authorization":
            parts = value.decode("latin-1").partition(" ")
            if parts[0].lower() == "bearer":
                return hashlib.sha256(parts[2].strip().encode("utf-8")).digest()
    return None


class RequireKeyEverywhere:
    def __init__(self, app):
        self.app = app
        key = os.environ.get("VLLM_API_KEY", "")
        self.key_digest = hashlib.sha256(key.encode("utf-8")).digest() if key else None

    def allowed(self, scope):
        if self.key_digest is None or scope.get("method") == "OPTIONS":
            return True
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if path in OPEN_PATHS:
            return True
        digest = _bearer_digest(scope.get("headers", []))
        return digest is not None and hmac.compare_digest(digest, self.key_digest)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or self.allowed(scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await send({
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
            })
            await send({"type": "http.response.body", "body": b'{"error": "Unauthorized"}'})
