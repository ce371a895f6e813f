#!/usr/bin/env bats
# Broken runtimes on the seccomp listener of `sockgate serve`: garbage, a silent connection that
# stays open, two descriptors, a descriptor that is not a seccomp listener, and runtimes killed
# half-way. Each is closed, logged and counted, and the next runc container still attaches.

load helpers

setup() {
    setup_oci
    write_host_rules
    write_profile
    BAD_CLIENT=$BATS_TEST_DIRNAME/bad_client.py
    HELPER_PIDS=()
}

teardown() {
    local pid
    for pid in "${HELPER_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    teardown_oci
}

# Starts bad_client.py in MODE in the background and waits until it has sent its part.
start_bad_client() {
    local mode=$1
    python3 "$BAD_CLIENT" "$LISTENER" "$mode" >"$OCI_WORK/client-$mode.out" 2>&1 &
    HELPER_PIDS+=($!)
    wait_for_text "$OCI_WORK/client-$mode.out" sent
}

# Runs a runc container that connects to the test host's echo port and checks that it was
# bypassed, which needs serve to have attached it.
assert_next_container_works() {
    local name=$1
    make_bundle "$name" "$(probe_command flags "$HOST" "$ECHO_PORT")"
    run runc_run "$name"
    assert_equal "$name exit status" "$status" 0
    assert_equal "$name bypassed" "$(jq -r .bypassed <<<"$output")" true
    assert_equal "$name echo" "$(jq -r .echo <<<"$output")" true
}

# Prints the value of sockgate_errors_total{kind="listener"} from the metrics exporter.
listener_errors() {
    curl -fsS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" |
        awk '/^sockgate_errors_total\{kind="listener"\}/ {print $2}'
}

@test "listener garbage leaves serve working" {
    start_serve --rules "$OCI_WORK/host.rules"

    start_bad_client garbage

    wait_for_text "$SERVE_LOG" "the message is not a JSON object"
    assert_next_container_works after-garbage
}

@test "listener silent connection leaves serve working" {
    start_serve --rules "$OCI_WORK/host.rules"

    start_bad_client silent

    assert_next_container_works after-silent
    assert_equal "silent client still connected" "$(kill -0 "${HELPER_PIDS[0]}" && echo yes)" yes
}

@test "listener silent connection times out" {
    start_serve --rules "$OCI_WORK/host.rules" --state-timeout 1

    start_bad_client silent

    wait_for_text "$SERVE_LOG" "no complete container state within 1000 ms (0 bytes received)"
    assert_next_container_works after-timeout
}

@test "listener two descriptors leave serve working" {
    start_serve --rules "$OCI_WORK/host.rules"

    start_bad_client two-fds

    wait_for_text "$SERVE_LOG" \
        "container two-fds: 2 descriptors came with the container state; expected one"
    assert_next_container_works after-two-fds
}

@test "listener pipe descriptor leaves serve working" {
    start_serve --rules "$OCI_WORK/host.rules"

    start_bad_client pipe-fd

    wait_for_text "$SERVE_LOG" "container pipe-fd: the descriptor is a pipe, not a seccomp listener"
    assert_next_container_works after-pipe
}

@test "listener missing descriptor leaves serve working" {
    start_serve --rules "$OCI_WORK/host.rules"

    start_bad_client no-fd

    wait_for_text "$SERVE_LOG" "container no-fd: no descriptor came with the container state"
    assert_next_container_works after-no-fd
}

@test "listener killed runtime leaves serve working" {
    start_serve --rules "$OCI_WORK/host.rules"
    start_bad_client half

    kill -KILL "${HELPER_PIDS[0]}"

    wait_for_text "$SERVE_LOG" "before the container state was complete"
    assert_next_container_works after-half
}

@test "listener killed runc leaves serve working" {
    start_serve --rules "$OCI_WORK/host.rules"
    make_bundle killed '["/bin/sleep", "60"]'
    runc_run killed >"$OCI_WORK/killed.out" 2>&1 &
    local runc_pid=$!
    wait_for_status '.containers | length' 1

    kill -KILL "$runc_pid"
    wait "$runc_pid" || true
    runc --root "$RUNC_ROOT" delete --force killed

    wait_for_status '.containers | length' 0
    assert_next_container_works after-runc
}

@test "listener counts rejected connections" {
    start_serve --rules "$OCI_WORK/host.rules" --metrics "127.0.0.1:$METRICS_PORT"
    start_bad_client garbage
    start_bad_client two-fds
    start_bad_client no-fd
    wait_for_text "$SERVE_LOG" "no descriptor came"
    wait_for_text "$SERVE_LOG" "2 descriptors came"

    run listener_errors

    assert_equal "exit status" "$status" 0
    assert_equal "listener errors" "$output" 3
}
