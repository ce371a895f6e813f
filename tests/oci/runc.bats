#!/usr/bin/env bats
# runc rootless with `sockgate serve` as its seccomp agent: bundles from `runc spec --rootless`
# with a network namespace added back (it holds only loopback, so only a bypassed connect reaches
# the test host) and the seccomp section from `sockgate profile`.

load helpers

# The probe prints an errno it has no name for as its number: ENOSYS is 38 on Linux.
readonly ENOSYS_NUMBER=38

setup() {
    setup_oci
    write_host_rules
    write_profile
}

teardown() {
    teardown_oci
}

@test "runc connect bypassed" {
    start_serve --rules "$OCI_WORK/host.rules"
    write_profile --metadata tenant-7
    make_bundle echo "$(probe_command flags "$HOST" "$ECHO_PORT")"

    run runc_run echo

    assert_equal "exit status" "$status" 0
    assert_equal "bypassed" "$(jq -r .bypassed <<<"$output")" true
    assert_equal "echo" "$(jq -r .echo <<<"$output")" true
    assert_status '.rules[] | select(.name == "test-host") | .connect_matches' 1
    assert_status '.decisions.bypass' 1
    assert_logged "container echo attached"
    assert_logged 'attached in'
    assert_logged 'metadata "tenant-7"'
}

@test "runc denied connect gets rule errno" {
    start_serve --rules "$OCI_WORK/host.rules"
    make_bundle denied "$(probe_command errno "$HOST" "$REFUSED_PORT")"

    run runc_run denied

    assert_equal "exit status" "$status" 0
    assert_equal "errno" "$(jq -r .errno <<<"$output")" EPERM
    assert_status '.rules[] | select(.name == "denied-port") | .connect_matches' 1
    assert_status '.decisions.deny' 1
}

@test "runc published port reachable from host" {
    # No rule file: the built-in policy, with the publish from the container's annotation.
    start_serve
    make_bundle server '["/bin/probe", "serve", "8080", "1"]' \
        '{"io.sockgate.publish": "127.0.0.1:'"$PUBLISHED_PORT"':8080"}'
    runc_run server >"$OCI_WORK/server.out" 2>&1 &
    local runc_pid=$!
    wait_for_text "$OCI_WORK/server.out" '"listening": true'

    run echo_through_port "$PUBLISHED_PORT" "through the published port"

    assert_equal "exit status" "$status" 0
    assert_equal "echoed text" "$output" "through the published port"
    wait "$runc_pid"
    assert_equal "server bypassed" "$(head -1 "$OCI_WORK/server.out" | jq -r .bypassed)" true
    assert_equal "server result" "$(tail -1 "$OCI_WORK/server.out" | jq -c .)" '{"served":1}'
}

@test "runc two scoped containers at once" {
    cat >"$OCI_WORK/team-a.rules" <<RULES
scope if label team=a
rule a-deny: deny connect tcp to $HOST port $ECHO_PORT errno EPERM
RULES
    cat >"$OCI_WORK/team-b.rules" <<RULES
scope if label team=b
rule b-bypass: bypass connect tcp to $HOST port $ECHO_PORT
RULES
    start_serve --rules "$OCI_WORK/team-a.rules" --rules "$OCI_WORK/team-b.rules"
    local target="$HOST $ECHO_PORT"
    # b connects, waits until a has come and gone, and connects again.
    make_bundle b "$(shell_command "probe flags $target; read line; probe flags $target")" \
        '{"team": "b"}'
    make_bundle a "$(probe_command errno "$HOST" "$ECHO_PORT")" \
        '{"team": "a"}'
    mkfifo "$OCI_WORK/b.in"
    runc_run b <"$OCI_WORK/b.in" >"$OCI_WORK/b.out" 2>&1 &
    local runc_b=$!
    exec 4>"$OCI_WORK/b.in"
    wait_for_text "$OCI_WORK/b.out" '"echo":true'
    wait_for_status '.containers | length' 1

    run runc_run a

    assert_equal "a exit status" "$status" 0
    assert_equal "a errno" "$(jq -r .errno <<<"$output")" EPERM
    # a has ended and was detached; b is still attached with its own labels.
    wait_for_status '.containers | length' 1
    assert_status '.containers[0].id' b
    assert_status '.containers[0].labels.team' b
    echo go >&4
    exec 4>&-
    wait "$runc_b"
    assert_equal "b connects" "$(grep -c '"bypassed":true,.*"echo":true' "$OCI_WORK/b.out")" 2
    assert_status '.rules[] | select(.name == "a-deny") | .connect_matches' 1
    assert_status '.rules[] | select(.name == "b-bypass") | .connect_matches' 2
}

@test "runc reload applies to running container" {
    start_serve --rules "$OCI_WORK/host.rules"
    local target="$HOST $ECHO_PORT"
    make_bundle reload "$(shell_command "probe errno $target; read line; probe errno $target")"
    mkfifo "$OCI_WORK/reload.in"
    runc_run reload <"$OCI_WORK/reload.in" >"$OCI_WORK/reload.out" 2>&1 &
    local runc_pid=$!
    exec 4>"$OCI_WORK/reload.in"
    wait_for_text "$OCI_WORK/reload.out" '"errno"'
    echo "rule now-denied: deny connect tcp to $HOST errno EPERM" \
        >"$OCI_WORK/host.rules"

    kill -HUP "$SERVE_PID"
    wait_for_status '.reloads.success' 1
    echo go >&4
    exec 4>&-
    wait "$runc_pid"

    assert_equal "before reload" "$(sed -n 1p "$OCI_WORK/reload.out" | jq -r .errno)" 0
    assert_equal "after reload" "$(sed -n 2p "$OCI_WORK/reload.out" | jq -r .errno)" EPERM
}

@test "runc gateway stop fails calls with ENOSYS" {
    start_serve --rules "$OCI_WORK/host.rules"
    local target="$HOST $ECHO_PORT"
    make_bundle orphan "$(shell_command "probe errno $target; read line; probe errno $target")"
    mkfifo "$OCI_WORK/orphan.in"
    runc_run orphan <"$OCI_WORK/orphan.in" >"$OCI_WORK/orphan.out" 2>&1 &
    local runc_pid=$!
    exec 4>"$OCI_WORK/orphan.in"
    wait_for_text "$OCI_WORK/orphan.out" '"errno"'

    stop_background "$SERVE_PID"
    SERVE_PID=
    echo go >&4
    exec 4>&-
    wait "$runc_pid"

    assert_equal "before stop" "$(sed -n 1p "$OCI_WORK/orphan.out" | jq -r .errno)" 0
    assert_equal "after stop" "$(sed -n 2p "$OCI_WORK/orphan.out" | jq -r .errno)" "$ENOSYS_NUMBER"
    assert_logged "stopped: 1 containers detached"
    assert_equal "listener removed" "$([[ -e $LISTENER ]] && echo yes || echo no)" no
    assert_equal "control removed" "$([[ -e $CONTROL ]] && echo yes || echo no)" no
}

@test "runc without listener fails to start" {
    make_bundle nobody '["/bin/probe", "errno", "127.0.0.1", "9"]'

    run runc_run nobody

    assert_equal "exit status" "$status" 1
    local found=no
    [[ $output == *"no such file or directory"* ]] && found=yes
    assert_equal "runc error names the missing listener" "$found" yes
}
