#!/usr/bin/env bats
# `sockgate run` as a process wrapper: it returns the command's exit status, forwards signals to
# the command and leaves standard input and output alone.

load helpers

setup() {
    setup_e2e
}

teardown() {
    if [[ -n ${RUN_PID:-} ]]; then
        stop_background "$RUN_PID"
    fi
}

@test "exit status zero" {
    run "$SOCKGATE" run -- true
    assert_equal "exit status" "$status" 0
}

@test "exit status 42" {
    run "$SOCKGATE" run -- sh -c 'exit 42'
    assert_equal "exit status" "$status" 42
}

@test "exit status of killed command" {
    # A shell reports a command killed by signal N as 128 + N: 137 for SIGKILL.
    run "$SOCKGATE" run -- sh -c 'kill -KILL $$'
    assert_equal "exit status" "$status" 137
}

@test "stdin and stdout pass through" {
    run bash -c 'printf "line one\nline two\n" | "$1" run -- cat' pipe "$SOCKGATE"
    assert_equal "exit status" "$status" 0
    assert_equal "output" "$output" $'line one\nline two'
}

# Starts a command that prints the name of each signal it receives and exits with 7 after
# SIGTERM or SIGINT, and waits until it is ready.
start_signal_reporter() {
    local script='
        trap "echo got-TERM; exit 7" TERM
        trap "echo got-INT; exit 7" INT
        echo ready >"$1"
        while :; do sleep 0.1; done'
    # A non-interactive shell starts background jobs with SIGINT ignored, and an ignored signal
    # stays ignored across exec. env --default-signal restores the default first.
    env --default-signal=INT "$SOCKGATE" run -- bash -c "$script" reporter \
        "$BATS_TEST_TMPDIR/ready" >"$BATS_TEST_TMPDIR/output" 2>"$BATS_TEST_TMPDIR/sockgate.log" \
        3>&- &
    RUN_PID=$!
    for _ in $(seq 100); do
        [[ -s $BATS_TEST_TMPDIR/ready ]] && return 0
        sleep 0.1
    done
    echo "the command did not start within 10 s; sockgate's log follows:" >&2
    cat "$BATS_TEST_TMPDIR/sockgate.log" >&2
    return 1
}

# Sends a signal to `sockgate run` and checks that the command got it and exited with 7.
check_signal_forwarded() {
    local signal=$1
    start_signal_reporter

    kill "-$signal" "$RUN_PID"
    wait_with_timeout "$RUN_PID"
    RUN_PID=

    assert_equal "exit status" "$WAITED_STATUS" 7
    assert_equal "output" "$(cat "$BATS_TEST_TMPDIR/output")" "got-$signal"
}

@test "sigterm reaches the command" {
    check_signal_forwarded TERM
}

@test "sigint reaches the command" {
    check_signal_forwarded INT
}
