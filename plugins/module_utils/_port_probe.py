# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Parse ``host:port`` candidates and measure whether, and how fast, a TCP connection to each opens."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor


# Enough to probe every login node of a cluster at once, small enough not to exhaust a node's threads.
MAX_WORKERS = 32

# Keys the probe writes into each result; a dict candidate's own keys of these names are replaced.
RESULT_KEYS = ('reachable', 'latency_ms', 'address', 'error', 'addresses')

_PORT_RE = re.compile(r'[0-9]+\Z')

_ALLOWED = "a 'host', 'host:port' or '[IPv6 address]:port' string, or a dict with 'host' and optional 'port'"


def check_port(value, what):
    """Return ``value`` as a port number; raise ValueError naming ``what`` when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('%s must be an integer from 1 to 65535, got %r' % (what, value))
    if isinstance(value, str):
        if not _PORT_RE.match(value):
            raise ValueError('%s must be an integer from 1 to 65535, got %r' % (what, value))
        value = int(value)
    if not 1 <= value <= 65535:
        raise ValueError('%s must be an integer from 1 to 65535, got %d' % (what, value))
    return value


def _host(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the host is empty; expected %s" % _ALLOWED)
    value = value.strip()
    if any(char.isspace() for char in value):
        raise ValueError('the host %r contains whitespace' % value)
    return value


def _parse_string(candidate, default_port):
    text = candidate.strip()
    if text.startswith('['):
        # "[2001:db8::1]:22" or "[2001:db8::1]"
        end = text.find(']')
        if end < 0:
            raise ValueError("%r has no closing ']'; expected %s" % (candidate, _ALLOWED))
        host, rest = text[1:end], text[end + 1:]
        if ':' not in host:
            raise ValueError('%r: only an IPv6 address goes in brackets; expected %s' % (candidate, _ALLOWED))
        if not rest:
            return _host(host), default_port
        if not rest.startswith(':'):
            raise ValueError("%r: only ':port' may follow ']'; expected %s" % (candidate, _ALLOWED))
        return _host(host), check_port(rest[1:], 'the port of %r' % candidate)
    if text.count(':') > 1:
        # "2001:db8::1:22" reads as an address with or without a port: brackets tell which
        raise ValueError("%r has more than one ':'; write an IPv6 address in brackets, as '[2001:db8::1]:22'"
                         % candidate)
    if ':' in text:
        host, port = text.split(':')
        return _host(host), check_port(port, 'the port of %r' % candidate)
    return _host(text), default_port


def _parse_dict(candidate, default_port):
    if 'host' not in candidate:
        raise ValueError("a dict needs a 'host' key; expected %s" % _ALLOWED)
    host = _host(candidate['host'])
    if host.startswith('[') and host.endswith(']'):
        host = _host(host[1:-1])
    if host.count(':') == 1:
        raise ValueError("the host %r holds a ':'; put the port in 'port'" % host)
    port = candidate.get('port')
    port = default_port if port is None else check_port(port, "'port'")
    return host, port


def parse_candidate(candidate, default_port):
    """Parse one candidate.

    ``candidate`` is ``host``, ``host:port``, ``[ipv6]`` or ``[ipv6]:port``, or a dict with ``host`` and
    optional ``port``, whose other keys are kept. Return a new dict with ``host`` (without brackets) and
    ``port`` (int) first, then the dict's other keys. Raise ValueError with the reason otherwise.
    """
    if isinstance(candidate, str):
        host, port = _parse_string(candidate, default_port)
        return {'host': host, 'port': port}
    if isinstance(candidate, dict):
        host, port = _parse_dict(candidate, default_port)
        parsed = {'host': host, 'port': port}
        for key, value in candidate.items():
            if key not in parsed:
                parsed[key] = value
        return parsed
    raise ValueError('got %s; expected %s' % (type(candidate).__name__, _ALLOWED))


def parse_candidates(candidates, default_port):
    """Parse every candidate; a ValueError names the first bad one as ``candidates[i]``."""
    default_port = check_port(default_port, 'default_port')
    if not candidates:
        raise ValueError('candidates must list at least one host')
    parsed = []
    for index, candidate in enumerate(candidates):
        try:
            parsed.append(parse_candidate(candidate, default_port))
        except ValueError as exc:
            raise ValueError('candidates[%d]: %s' % (index, exc))
    return parsed


def endpoint(host, port):
    """Write ``host`` and ``port`` back as ``host:port``, with an IPv6 address in brackets."""
    if ':' in host:
        return '[%s]:%d' % (host, port)
    return '%s:%d' % (host, port)


def describe_error(exc, timeout):
    """Return a short, platform-independent reason for an exception of name resolution or connect()."""
    if isinstance(exc, socket.gaierror):
        if exc.errno == socket.EAI_NONAME:
            # glibc and macOS word it differently; one wording lets callers compare
            return 'name or service not known'
        return (exc.strerror or str(exc)).lower()
    if isinstance(exc, UnicodeError):
        # the IDNA codec refuses empty or over-long labels before any lookup
        return 'invalid host name'
    # socket.timeout is no TimeoutError before Python 3.10; ETIMEDOUT means the kernel gave up first
    if isinstance(exc, (socket.timeout, TimeoutError)) or getattr(exc, 'errno', None) == errno.ETIMEDOUT:
        return 'timed out after %ss' % float(timeout)
    if isinstance(exc, ConnectionRefusedError):
        return 'connection refused'
    if getattr(exc, 'errno', None):
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def resolve(host, port):
    """Return the distinct addresses of ``host`` for TCP, in the resolver's order of preference."""
    addresses = []
    for dummy_family, dummy_type, dummy_proto, dummy_name, sockaddr in socket.getaddrinfo(
            host, port, socket.AF_UNSPEC, socket.SOCK_STREAM):
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


def connect(address, port, timeout):
    """Open and close one TCP connection; return the seconds connect() took."""
    started = time.monotonic()
    sock = socket.create_connection((address, port), timeout=timeout)
    elapsed = time.monotonic() - started
    sock.close()
    return elapsed


def probe(candidate, timeout, attempts=1, all_addresses=False):
    """Probe one parsed candidate.

    Resolve its host once, then make ``attempts`` rounds; each round tries the addresses in order
    until one accepts the connection. Return a copy of ``candidate`` with ``reachable``,
    ``latency_ms`` (the fastest round, in milliseconds), ``address`` (the one that answered fastest)
    and ``error`` (None when reachable).

    With ``all_addresses``, every address is probed, not only the first that answers, and the result
    also has ``addresses``: one entry per address with its own ``reachable``, ``latency_ms`` and
    ``error``. A name that round-robins over several login nodes then shows each of them.
    """
    result = dict(candidate)
    result.update(reachable=False, latency_ms=None, address=None, error=None)
    if all_addresses:
        result['addresses'] = []
    host, port = candidate['host'], candidate['port']
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        result['error'] = describe_error(exc, timeout)
        return result

    if all_addresses:
        return _probe_each(result, addresses, port, timeout, attempts)

    best = None
    errors = []
    for dummy in range(attempts):
        for address in addresses:
            try:
                elapsed = connect(address, port, timeout)
            except OSError as exc:
                errors.append((address, describe_error(exc, timeout)))
                continue
            if best is None or elapsed < best[0]:
                best = (elapsed, address)
            break

    if best is not None:
        result.update(reachable=True, latency_ms=round(best[0] * 1000, 2), address=best[1])
    else:
        result['error'] = _summarize(errors)
    return result


def _probe_address(address, port, timeout, attempts):
    best, errors = None, []
    for dummy in range(attempts):
        try:
            elapsed = connect(address, port, timeout)
        except OSError as exc:
            errors.append((address, describe_error(exc, timeout)))
            continue
        best = elapsed if best is None else min(best, elapsed)
    if best is None:
        return {'address': address, 'reachable': False, 'latency_ms': None, 'error': _summarize(errors)}
    return {'address': address, 'reachable': True, 'latency_ms': round(best * 1000, 2), 'error': None}


def _probe_each(result, addresses, port, timeout, attempts):
    """Fill ``result`` from a probe of every address; the first reachable one (resolver order) is ``address``."""
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(addresses)))) as executor:
        each = list(executor.map(lambda address: _probe_address(address, port, timeout, attempts), addresses))
    result['addresses'] = each
    reachable = [entry for entry in each if entry['reachable']]
    if reachable:
        result.update(reachable=True, latency_ms=reachable[0]['latency_ms'], address=reachable[0]['address'])
    else:
        result['error'] = _summarize([(entry['address'], entry['error']) for entry in each])
    return result


def _summarize(errors):
    """One reason when every address failed alike, else each address with its own."""
    if not errors:
        return 'no address for this name'
    reasons = []
    for address, reason in errors:
        if (address, reason) not in reasons:
            reasons.append((address, reason))
    if len(set(reason for dummy, reason in reasons)) == 1:
        return reasons[0][1]
    return '; '.join('%s: %s' % (address, reason) for address, reason in reasons)


def probe_all(candidates, timeout, attempts=1, max_workers=MAX_WORKERS, all_addresses=False):
    """Probe parsed candidates concurrently; the results keep the order of ``candidates``.

    Dead hosts wait for their timeouts side by side, so a list of them costs one timeout, not one each.
    """
    if not candidates:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(candidates)))) as executor:
        return list(executor.map(lambda candidate: probe(candidate, timeout, attempts, all_addresses), candidates))
