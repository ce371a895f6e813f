#!/usr/bin/env bats
# `sockgate serve` itself: start-up errors, a second gateway on the same listener, a stale
# socket file, a failed reload, and a clean stop.

load helpers

setup() {
    setup_oci
    write_host_rules
    write_profile
}

teardown() {
    if [[ -n ${SECOND_PID:-} ]]; then
        stop_background "$SECOND_PID"
    fi
    teardown_oci
}

# Runs a runc container that connects to the test host's echo port; prints the probe's output.
run_echo_container() {
    local name=$1
    make_bundle "$name" "$(probe_command flags "$HOST" "$ECHO_PORT")"
    runc_run "$name"
}

@test "serve invalid rules exit 1" {
    printf 'rule broken: bypas connect\n' >"$OCI_WORK/broken.rules"

    run "$SOCKGATE" serve --rules "$OCI_WORK/broken.rules" --listener "$LISTENER" \
        --control "$CONTROL" --metrics none

    assert_equal "exit status" "$status" 1
    local position="$OCI_WORK/broken.rules:1:14: error: expected an action"
    assert_equal "diagnostic" "$(grep -c -F "$position" <<<"$output")" 1
    assert_equal "listener created" "$([[ -e $LISTENER ]] && echo yes || echo no)" no
}

@test "serve second gateway on listener fails" {
    start_serve --rules "$OCI_WORK/host.rules"

    run "$SOCKGATE" serve --listener "$LISTENER" --control "$OCI_WORK/second-control.sock" \
        --metrics none

    assert_equal "exit status" "$status" 1
    assert_equal "message" "$(grep -c 'another process listens there' <<<"$output")" 1
    run run_echo_container still-served
    assert_equal "bypassed" "$(jq -r .bypassed <<<"$output")" true
    assert_equal "control socket kept" "$([[ -S $CONTROL ]] && echo yes || echo no)" yes
}

@test "serve replaces stale listener socket" {
    mkdir -p "$(dirname "$LISTENER")"
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$LISTENER"
    assert_equal "stale socket" "$([[ -S $LISTENER ]] && echo yes || echo no)" yes

    start_serve --rules "$OCI_WORK/host.rules"

    run run_echo_container after-stale
    assert_equal "exit status" "$status" 0
    assert_equal "bypassed" "$(jq -r .bypassed <<<"$output")" true
}

@test "serve failed reload keeps rules" {
    start_serve --rules "$OCI_WORK/host.rules"
    printf 'rule broken: bypas connect\n' >"$OCI_WORK/host.rules"

    kill -HUP "$SERVE_PID"

    wait_for_status '.reloads.failure' 1
    assert_logged "reload failed, the previous policy stays"

    run "$SOCKGATE" reload --control "$CONTROL"
    assert_equal "reload exit status" "$status" 1
    assert_equal "reload reply" "${lines[0]}" "sockgate: reload failed; the previous policy stays"
    assert_equal "reload error" "${lines[1]}" \
        "$OCI_WORK/host.rules:1:14: error: expected an action: 'bypass', 'pass' or 'deny', found 'bypas'"
    run run_echo_container after-reload
    assert_equal "bypassed" "$(jq -r .bypassed <<<"$output")" true
    assert_status '.rules[] | select(.name == "test-host") | .connect_matches' 1
}

@test "serve SIGINT stops cleanly" {
    start_serve --rules "$OCI_WORK/host.rules"

    kill -INT "$SERVE_PID"
    local status=0
    wait "$SERVE_PID" || status=$?
    SERVE_PID=

    assert_equal "exit status" "$status" 0
    assert_logged "SIGINT: stopping"
    assert_equal "listener removed" "$([[ -e $LISTENER ]] && echo yes || echo no)" no
    assert_equal "control removed" "$([[ -e $CONTROL ]] && echo yes || echo no)" no
    assert_equal "socket directory mode" "$(stat -c %a "$(dirname "$LISTENER")")" 700
}
