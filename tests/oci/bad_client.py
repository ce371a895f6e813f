#!/usr/bin/env python3
"""Connects to the seccomp listener of `sockgate serve` the way a broken runtime would.

Usage: bad_client.py LISTENER_PATH MODE

Modes:
  garbage      sends a line that is not JSON, then waits for the gateway to close
  silent       sends nothing and keeps the connection open until killed
  two-fds      sends a valid container state with two descriptors (both ends of a pipe)
  pipe-fd      sends a valid container state with one descriptor that is a pipe
  no-fd        sends a valid container state without a descriptor
  half         sends the first half of a valid state with a pipe, then waits until killed

Prints "sent" once it has written what the mode sends, so that a test knows when to go on.
The modes that wait exit when the gateway closes the connection.
"""

import json
import os
import socket
import sys
import time


def container_state(container_id):
    pid = os.getpid()
    state = {
        "ociVersion": "1.0.2-dev",
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": "",
        "state": {
            "ociVersion": "1.0.2-dev",
            "id": container_id,
            "status": "creating",
            "pid": pid,
            "bundle": "/nonexistent",
            "annotations": {},
        },
    }
    return json.dumps(state, separators=(",", ":")).encode()


def wait_for_close(client):
    """Blocks until the gateway closes its end (recv returns no data)."""
    client.settimeout(None)
    while client.recv(4096):
        pass


def main():
    path, mode = sys.argv[1], sys.argv[2]
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    read_end, write_end = os.pipe()
    if mode == "garbage":
        client.sendall(b"this is not a container state\n")
    elif mode == "silent":
        pass
    elif mode == "two-fds":
        socket.send_fds(client, [container_state("two-fds")], [read_end, write_end])
    elif mode == "pipe-fd":
        socket.send_fds(client, [container_state("pipe-fd")], [read_end])
    elif mode == "no-fd":
        client.sendall(container_state("no-fd"))
    elif mode == "half":
        message = container_state("half")
        socket.send_fds(client, [message[: len(message) // 2]], [read_end])
    else:
        sys.exit(f"bad_client.py: unknown mode '{mode}'")
    print("sent", flush=True)
    if mode in ("silent", "half"):
        while True:
            time.sleep(60)
    wait_for_close(client)


if __name__ == "__main__":
    main()
