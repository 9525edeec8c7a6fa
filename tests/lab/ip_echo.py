# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A public IP address service for the lab: every GET is answered with the client's address, one line of text/plain.

Usage: python3 ip_echo.py BIND_ADDRESS PORT   (PORT 0 picks a free one)

It prints ``ip_echo listening on ADDRESS PORT`` once it accepts connections, so a caller can wait for that
line and read the port from it. Bound to ``::``, it also serves IPv4 clients and answers them with their
IPv4 address, as a dual-stack public service would. Standard library only: it runs on the lab's bare
Debian 12 containers.
"""

from __future__ import absolute_import, division, print_function

import ipaddress
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # pylint: disable=invalid-name
        address = ipaddress.ip_address(self.client_address[0].split('%')[0])
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        body = ('%s\n' % address).encode('ascii')
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, port):
        self.address_family = socket.AF_INET6 if ':' in address else socket.AF_INET
        ThreadingHTTPServer.__init__(self, (address, port), Handler)

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            # dual stack, whatever net.ipv6.bindv6only says
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        ThreadingHTTPServer.server_bind(self)


def main(argv):
    if len(argv) != 2:
        sys.exit('usage: ip_echo.py BIND_ADDRESS PORT')
    server = Server(argv[0], int(argv[1]))
    print('ip_echo listening on %s %d' % server.server_address[:2], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == '__main__':
    main(sys.argv[1:])
