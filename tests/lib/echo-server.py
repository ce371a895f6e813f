#!/usr/bin/env python3
"""TCP echo server for the test hosts: sends back every byte it receives.

Listens on one dual-stack socket ([::] with IPV6_V6ONLY off), so IPv4 clients reach it too.
Usage: echo-server.py PORT
"""

import socket
import socketserver
import sys


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class DualStackServer(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: echo-server.py PORT")
    with DualStackServer(("::", int(sys.argv[1])), EchoHandler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
