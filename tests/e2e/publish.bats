#!/usr/bin/env bats
# Published ports: a server inside `sockgate run` that binds [::]:8080, published as host port
# 18080, reached from the host over IPv4 and IPv6 and from inside the container itself.

load helpers

readonly HOST_PORT=18080
readonly CONTAINER_PORT=8080
readonly PAGE_BODY="published from inside sockgate run"

setup() {
    setup_e2e
    mkdir "$BATS_TEST_TMPDIR/www"
    echo "$PAGE_BODY" >"$BATS_TEST_TMPDIR/www/page.txt"
}

teardown() {
    if [[ -n ${SERVER_PID:-} ]]; then
        stop_background "$SERVER_PID"
    fi
}

# Starts python3's http.server on [::]:8080 inside `sockgate run --publish 18080:8080` in the
# background. python3 turns IPV6_V6ONLY off, so the listener is dual-stack.
start_published_server() {
    "$SOCKGATE" run --log-level debug --publish "$HOST_PORT:$CONTAINER_PORT" -- \
        python3 -m http.server --bind :: --directory "$BATS_TEST_TMPDIR/www" "$CONTAINER_PORT" \
        >"$BATS_TEST_TMPDIR/server.log" 2>&1 3>&- &
    SERVER_PID=$!
    wait_for_url "http://127.0.0.1:$HOST_PORT/page.txt" || {
        cat "$BATS_TEST_TMPDIR/server.log" >&2
        return 1
    }
}

@test "publish ipv4 from host" {
    start_published_server

    run curl -fsS --max-time 5 "http://127.0.0.1:$HOST_PORT/page.txt"

    assert_equal "exit status" "$status" 0
    assert_equal "body" "$output" "$PAGE_BODY"
}

@test "publish ipv6 from host" {
    start_published_server

    run curl -fsS -g --max-time 5 "http://[::1]:$HOST_PORT/page.txt"

    assert_equal "exit status" "$status" 0
    assert_equal "body" "$output" "$PAGE_BODY"
}

@test "publish health check from inside" {
    # The server and its health check share one `sockgate run`. The check connects to
    # 127.0.0.1:8080 inside, which reaches the published listener on the host side.
    local script='
        python3 -m http.server --bind :: --directory "$1" "$2" >/dev/null 2>&1 &
        server=$!
        for attempt in $(seq 100); do
            if curl -fsS --max-time 1 "http://127.0.0.1:$2/page.txt" 2>/dev/null; then
                kill "$server"
                exit 0
            fi
            sleep 0.1
        done
        kill "$server"
        echo "no health check to 127.0.0.1:$2 succeeded within 10 s" >&2
        exit 1'

    run "$SOCKGATE" run --publish "$HOST_PORT:$CONTAINER_PORT" -- \
        bash -c "$script" health-check "$BATS_TEST_TMPDIR/www" "$CONTAINER_PORT"

    assert_equal "exit status" "$status" 0
    assert_equal "body" "$output" "$PAGE_BODY"
}
