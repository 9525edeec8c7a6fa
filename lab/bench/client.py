"""Load generator that runs inside a lab node (system python3, standard library only).

Usage: python3 client.py latency PORT COUNT          GET /v1/models COUNT times on one keep-alive connection
       python3 client.py stream PORT STREAMS TOKENS  STREAMS concurrent streamed completions of TOKENS tokens

The API key comes on stdin (never on a command line). Prints one JSON object on stdout:
latency: {"samples_ms": [...]}; stream: {"wall_s", "tokens", "streams": [{"tokens", "first_token_s", "s"}]}.
"""

import http.client
import json
import sys
import threading
import time

HOST = '127.0.0.1'


def latency(port, count, key):
    headers = {'Authorization': 'Bearer ' + key}
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    samples = []
    for dummy in range(count + 5):
        start = time.perf_counter()
        connection.request('GET', '/v1/models', headers=headers)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200 or b'"data"' not in body:
            raise SystemExit('GET /v1/models answered %d: %r' % (response.status, body[:200]))
        samples.append(elapsed * 1000)
    connection.close()
    return {'samples_ms': samples[5:]}  # the first requests warm the connection and the server up


def one_stream(port, model, tokens, key, results, index, barrier):
    body = json.dumps({'model': model, 'prompt': 'Tell me about the cluster', 'max_tokens': tokens,
                       'temperature': 0, 'ignore_eos': True, 'stream': True,
                       'stream_options': {'include_usage': True}})
    headers = {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'}
    connection = http.client.HTTPConnection(HOST, port, timeout=300)
    barrier.wait()
    start = time.perf_counter()
    connection.request('POST', '/v1/completions', body=body, headers=headers)
    response = connection.getresponse()
    if response.status != 200:
        results[index] = {'error': 'HTTP %d %r' % (response.status, response.read()[:200])}
        return
    first, counted = None, 0
    usage = None
    for line in response:
        if not line.startswith(b'data: ') or line.strip() == b'data: [DONE]':
            continue
        chunk = json.loads(line[6:])
        if chunk.get('usage'):
            usage = chunk['usage']['completion_tokens']
        if chunk.get('choices') and chunk['choices'][0].get('text') is not None:
            counted += 1
            if first is None:
                first = time.perf_counter() - start
    results[index] = {'tokens': usage if usage is not None else counted, 'chunks': counted,
                      'first_token_s': first, 's': time.perf_counter() - start}
    connection.close()


def stream(port, streams, tokens, key):
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request('GET', '/v1/models', headers={'Authorization': 'Bearer ' + key})
    model = json.loads(connection.getresponse().read())['data'][0]['id']
    connection.close()
    results = [None] * streams
    barrier = threading.Barrier(streams + 1)
    threads = [threading.Thread(target=one_stream, args=(port, model, tokens, key, results, i, barrier))
               for i in range(streams)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    errors = ['a stream died' if r is None else r['error'] for r in results if r is None or 'error' in r]
    # ignore_eos: each stream must bring exactly the tokens it asked for, else the rates compare nothing
    errors += ['%d tokens instead of %d' % (r['tokens'], tokens) for r in results if r and r.get('tokens', tokens) != tokens]
    if errors:
        raise SystemExit('streams failed: %s' % errors[:3])
    return {'wall_s': wall, 'tokens': sum(r['tokens'] for r in results), 'streams': results}


def main(argv):
    key = sys.stdin.readline().strip()
    mode, port = argv[1], int(argv[2])
    if mode == 'latency':
        result = latency(port, int(argv[3]), key)
    elif mode == 'stream':
        result = stream(port, int(argv[3]), int(argv[4]), key)
    else:
        raise SystemExit(__doc__)
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main(sys.argv)
