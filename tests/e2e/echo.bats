#!/usr/bin/env bats
# A TCP round trip through a bypassed socket: python3 sends 4 MiB of random bytes to the echo
# server on the test host and checks that the same bytes come back, over IPv4 and IPv6.

load helpers

setup() {
    setup_e2e
}

# Sends the bytes from a second thread while the main thread reads, so that neither side blocks
# on a full buffer. Prints the local address, the number of bytes that came back and whether
# they equal what was sent.
readonly ECHO_CLIENT='
import os, socket, sys, threading
data = os.urandom(4 << 20)
with socket.create_connection((sys.argv[1], int(sys.argv[2]))) as connection:
    def send():
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
    sender = threading.Thread(target=send)
    sender.start()
    received = bytearray()
    while chunk := connection.recv(1 << 16):
        received += chunk
    sender.join()
    print(connection.getsockname()[0])
    print(len(received))
    print("equal" if received == data else "different")
'

check_round_trip() {
    local address=$1 expected_local=$2

    run "$SOCKGATE" run -- python3 -c "$ECHO_CLIENT" "$address" "$SOCKGATE_TEST_ECHO_PORT"

    assert_equal "exit status" "$status" 0
    assert_equal "number of output lines" "${#lines[@]}" 3
    assert_equal "local address" "${lines[0]}" "$expected_local"
    assert_equal "bytes received" "${lines[1]}" 4194304
    assert_equal "received bytes" "${lines[2]}" equal
}

@test "echo ipv4 round trip bypassed" {
    check_round_trip "$SOCKGATE_TEST_HOST_IPV4" "$SOCKGATE_TEST_GATEWAY_IPV4"
}

@test "echo ipv6 round trip bypassed" {
    check_round_trip "$SOCKGATE_TEST_HOST_IPV6" "$SOCKGATE_TEST_GATEWAY_IPV6"
}
