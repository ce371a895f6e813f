#!/usr/bin/env bats
# Bulk transfer with iperf3 through `sockgate run`: bypassed sockets (the built-in policy
# bypasses every TCP connect to a non-local address) and slirp4netns alone (--no-filter).

load helpers

# Bytes that each client is told to send (--bytes): 256 MiB, a multiple of iperf3's 128 KiB
# TCP block size.
readonly TRANSFER_BYTES=268435456
readonly BLOCK_BYTES=131072

setup() {
    setup_e2e
}

# Runs iperf3 as a client of the test host through `sockgate run` with the given options, and
# stores its JSON report in $BATS_TEST_TMPDIR/iperf3.json and sockgate's log in sockgate.log.
run_iperf3_through_sockgate() {
    local server=$1
    shift
    "$SOCKGATE" run --log-level debug "$@" -- \
        iperf3 --client "$server" --port "$SOCKGATE_TEST_IPERF3_PORT" \
        --bytes "$TRANSFER_BYTES" --json \
        >"$BATS_TEST_TMPDIR/iperf3.json" 2>"$BATS_TEST_TMPDIR/sockgate.log"
}

# Fails unless the client sent the requested bytes and the server received nearly all of them.
# NOTE: the iperf3 3.12 client may send more than --bytes (one more 128 KiB block was seen
# through a bypassed socket), so up to 8 blocks more pass. The server stops counting when the
# end-of-test message arrives on the control connection, so bytes still buffered are left out:
# about 1% of 256 MiB through slirp4netns on the development machine. Exact byte counts are
# checked by echo.bats and by the SHA-256 of the HTTP blob.
assert_full_transfer() {
    local report=$BATS_TEST_TMPDIR/iperf3.json
    assert_json "$report" .error null

    local sent received
    sent=$(jq -r .end.sum_sent.bytes "$report")
    received=$(jq -r .end.sum_received.bytes "$report")
    if ((sent < TRANSFER_BYTES || sent > TRANSFER_BYTES + 8 * BLOCK_BYTES)); then
        echo "the client sent $sent bytes, expected $TRANSFER_BYTES to" \
            "$((TRANSFER_BYTES + 8 * BLOCK_BYTES))" >&2
        return 1
    fi
    if ((received > sent || received < sent / 100 * 95)); then
        echo "the server received $received of the $sent bytes sent, expected at least 95%" >&2
        return 1
    fi
}

@test "iperf3 ipv4 bypassed" {
    run_iperf3_through_sockgate "$SOCKGATE_TEST_HOST_IPV4"

    assert_full_transfer
    # A bypassed socket lives in the host's namespace, so its source is the host's address.
    assert_json "$BATS_TEST_TMPDIR/iperf3.json" '.start.connected[0].local_host' \
        "$SOCKGATE_TEST_GATEWAY_IPV4"
    # iperf3 opens a control connection and one data connection.
    assert_decisions "$BATS_TEST_TMPDIR/sockgate.log" bypass "$SOCKGATE_TEST_HOST_IPV4" \
        "$SOCKGATE_TEST_IPERF3_PORT" 2
}

@test "iperf3 ipv6 bypassed" {
    run_iperf3_through_sockgate "$SOCKGATE_TEST_HOST_IPV6"

    assert_full_transfer
    assert_json "$BATS_TEST_TMPDIR/iperf3.json" '.start.connected[0].local_host' \
        "$SOCKGATE_TEST_GATEWAY_IPV6"
    assert_decisions "$BATS_TEST_TMPDIR/sockgate.log" bypass "$SOCKGATE_TEST_HOST_IPV6" \
        "$SOCKGATE_TEST_IPERF3_PORT" 2
}

@test "iperf3 ipv4 through slirp4netns" {
    run_iperf3_through_sockgate "$SOCKGATE_TEST_HOST_IPV4" --no-filter

    assert_full_transfer
    # Without the filter the socket stays in the container, behind slirp4netns.
    assert_json "$BATS_TEST_TMPDIR/iperf3.json" '.start.connected[0].local_host' \
        "$CONTAINER_IPV4"
    assert_decisions "$BATS_TEST_TMPDIR/sockgate.log" bypass "$SOCKGATE_TEST_HOST_IPV4" \
        "$SOCKGATE_TEST_IPERF3_PORT" 0
}

@test "iperf3 ipv6 through slirp4netns" {
    skip_unless_fallback_ipv6
    run_iperf3_through_sockgate "$SOCKGATE_TEST_HOST_IPV6" --no-filter

    assert_full_transfer
    assert_matches "local address" \
        "$(jq -r '.start.connected[0].local_host' "$BATS_TEST_TMPDIR/iperf3.json")" \
        "$CONTAINER_IPV6_PATTERN"
    assert_decisions "$BATS_TEST_TMPDIR/sockgate.log" bypass "$SOCKGATE_TEST_HOST_IPV6" \
        "$SOCKGATE_TEST_IPERF3_PORT" 0
}
