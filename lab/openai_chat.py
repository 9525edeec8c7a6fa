"""One chat completion with the official openai client; run on the lab's laptop container by lab/demo.

Usage: openai_chat.py BASE_URL MODEL   (the API key is read from stdin, so it is on no command line)
"""
import json
import sys
import time

from openai import OpenAI


def main(base_url, model):
    client = OpenAI(base_url=base_url, api_key=sys.stdin.readline().strip(), timeout=120, max_retries=0)
    started = time.monotonic()
    reply = client.chat.completions.create(
        model=model, max_tokens=16, messages=[{"role": "user", "content": "Hello from the laptop!"}])
    print(json.dumps({
        "base_url": base_url,
        "seconds": round(time.monotonic() - started, 2),
        "model": reply.model,
        "content": reply.choices[0].message.content,
        "finish_reason": reply.choices[0].finish_reason,
        "usage": reply.usage.model_dump() if reply.usage else None,
        "system_fingerprint": reply.system_fingerprint,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:3])
