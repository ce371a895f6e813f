#!/usr/bin/env bats
# HTTP with curl through `sockgate run` to nginx on the test host, over IPv4 and IPv6.

load helpers

setup() {
    setup_e2e
}

# Runs curl through `sockgate run` with the given sockgate options and URL. Prints the body and
# then, on a last line, the local address of the connection.
curl_through_sockgate() {
    local url=$1
    shift
    "$SOCKGATE" run --log-level debug "$@" -- \
        curl -fsS -g --max-time 20 -w '\n%{local_ip}' "$url" 2>"$BATS_TEST_TMPDIR/sockgate.log"
}

# Fetches /hello.txt from one test host address and checks the body, the source address of the
# connection (a glob pattern) and the number of bypass decisions.
check_page() {
    local address=$1 expected_local=$2 expected_bypass_decisions=$3 sockgate_options=("${@:4}")
    local url
    url="http://$(url_host "$address"):$SOCKGATE_TEST_HTTP_PORT$SOCKGATE_TEST_HTTP_PATH"

    run curl_through_sockgate "$url" "${sockgate_options[@]}"

    assert_equal "exit status" "$status" 0
    assert_equal "number of output lines" "${#lines[@]}" 2
    assert_equal "body" "${lines[0]}" "$SOCKGATE_TEST_HTTP_BODY"
    assert_matches "local address" "${lines[1]}" "$expected_local"
    assert_decisions "$BATS_TEST_TMPDIR/sockgate.log" bypass "$address" \
        "$SOCKGATE_TEST_HTTP_PORT" "$expected_bypass_decisions"
}

# Downloads the 4 MiB blob and checks its size and SHA-256.
check_blob() {
    local address=$1
    local url blob=$BATS_TEST_TMPDIR/blob.bin
    url="http://$(url_host "$address"):$SOCKGATE_TEST_HTTP_PORT$SOCKGATE_TEST_HTTP_BLOB_PATH"

    "$SOCKGATE" run -- curl -fsS -g --max-time 20 -o "$blob" "$url"

    assert_equal "blob size" "$(stat -c %s "$blob")" "$SOCKGATE_TEST_HTTP_BLOB_SIZE"
    assert_equal "blob SHA-256" "$(sha256sum "$blob" | cut -d' ' -f1)" \
        "$SOCKGATE_TEST_HTTP_BLOB_SHA256"
}

@test "http ipv4 page bypassed" {
    check_page "$SOCKGATE_TEST_HOST_IPV4" "$SOCKGATE_TEST_GATEWAY_IPV4" 1
}

@test "http ipv6 page bypassed" {
    check_page "$SOCKGATE_TEST_HOST_IPV6" "$SOCKGATE_TEST_GATEWAY_IPV6" 1
}

@test "http ipv4 blob bypassed" {
    check_blob "$SOCKGATE_TEST_HOST_IPV4"
}

@test "http ipv6 blob bypassed" {
    check_blob "$SOCKGATE_TEST_HOST_IPV6"
}

@test "http ipv4 page through slirp4netns" {
    check_page "$SOCKGATE_TEST_HOST_IPV4" "$CONTAINER_IPV4" 0 --no-filter
}

@test "http ipv6 page through slirp4netns" {
    skip_unless_fallback_ipv6
    check_page "$SOCKGATE_TEST_HOST_IPV6" "$CONTAINER_IPV6_PATTERN" 0 --no-filter
}
