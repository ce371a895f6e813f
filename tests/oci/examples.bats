#!/usr/bin/env bats
# The examples for container engines as a user would run them: the systemd user unit (its
# ExecStart and ExecReload lines, since the test machines run no systemd) and the Podman recipe
# (podman-sockgate with shop.rules).

load helpers

setup() {
    setup_oci
    write_host_rules
    EXAMPLES=$SOCKGATE_SOURCE_DIR/examples
}

teardown() {
    if [[ -n ${PODMAN_DIR:-} ]]; then
        teardown_podman
    fi
    teardown_oci
}

# Prints a line of the unit, KEY=VALUE, with the specifiers and paths of this test filled in:
# %h is $HOME, /usr/local/bin/sockgate the binary under test, $MAINPID the given process id.
unit_command() {
    local unit=$1 key=$2 main_pid=${3:-}
    local line
    line=$(sed -n "s/^$key=//p" "$unit")
    line=${line//%h/$HOME}
    line=${line//\/usr\/local\/bin\/sockgate/$SOCKGATE}
    line=${line//\$MAINPID/$main_pid}
    echo "$line"
}

@test "examples systemd unit starts serve" {
    local unit=$EXAMPLES/systemd/sockgate.service
    export HOME=$OCI_WORK/home
    mkdir -p "$HOME/.config/sockgate"
    cp "$OCI_WORK/host.rules" "$HOME/.config/sockgate/"
    printf '%s\n' 'rules = ["host.rules"]' 'metrics = ""' >"$HOME/.config/sockgate/sockgate.toml"
    LISTENER=$XDG_RUNTIME_DIR/sockgate/listener.sock
    CONTROL=$XDG_RUNTIME_DIR/sockgate/control.sock
    local start
    read -r -a start <<<"$(unit_command "$unit" ExecStart)"

    "${start[@]}" >"$SERVE_LOG" 2>&1 3>&- &
    SERVE_PID=$!

    wait_for_serve_sockets
    write_profile
    make_bundle unit "$(probe_command flags "$HOST" "$ECHO_PORT")"
    run runc_run unit
    assert_equal "exit status" "$status" 0
    assert_equal "bypassed" "$(jq -r .bypassed <<<"$output")" true

    local reload
    read -r -a reload <<<"$(unit_command "$unit" ExecReload "$SERVE_PID")"
    "${reload[@]}"
    wait_for_status '.reloads.success' 1

    # systemd stops a service with SIGTERM unless the unit sets KillSignal.
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID" || WAITED_STATUS=$?
    SERVE_PID=
    assert_equal "serve exit status" "${WAITED_STATUS:-0}" 0
    assert_equal "listener removed" "$([[ -e $LISTENER ]] && echo yes || echo no)" no
}

@test "examples systemd unit passes verify" {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
    # verify checks that ExecStart's binary exists, so the copy names the one under test.
    mkdir -p "$OCI_WORK/units"
    sed "s|/usr/local/bin/sockgate|$SOCKGATE|" "$EXAMPLES/systemd/sockgate.service" \
        >"$OCI_WORK/units/sockgate.service"

    run systemd-analyze --user verify "$OCI_WORK/units/sockgate.service"

    if [[ $output == *"Failed to initialize manager"* ]]; then
        skip "systemd-analyze --user cannot run here: $output"
    fi
    assert_equal "exit status" "$status" 0
    assert_equal "output" "$output" ""
}

@test "examples podman recipe with shop rules" {
    setup_podman
    [[ -n ${SOCKGATE_TEST_HTTP_PORT:-} ]] || skip "the test host env file has no HTTP port"
    # podman-sockgate calls `podman`: this one keeps the test's storage and runtime directories.
    mkdir -p "$OCI_WORK/bin"
    cat >"$OCI_WORK/bin/podman" <<SHIM
#!/bin/sh
exec $(command -v podman) --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/runroot" \\
    --tmpdir "$PODMAN_DIR/tmp" "\$@"
SHIM
    chmod +x "$OCI_WORK/bin/podman"
    export PATH=$OCI_WORK/bin:$PATH SOCKGATE SOCKGATE_LISTENER=$LISTENER
    export SOCKGATE_PROFILE=$OCI_WORK/podman-seccomp.json
    start_serve --rules "$EXAMPLES/podman/shop.rules"
    local recipe=("$EXAMPLES/podman/podman-sockgate" run --rm --runtime runc
        --network slirp4netns)

    run "${recipe[@]}" --annotation project=shop --rootfs "$OCI_ROOTFS" \
        /bin/probe errno "$HOST" "$SOCKGATE_TEST_HTTP_PORT"
    assert_equal "web errno" "$(grep '^{' <<<"$output" | jq -r .errno)" 0
    run "${recipe[@]}" --annotation project=shop --rootfs "$OCI_ROOTFS" /bin/probe errno "$HOST" 25
    assert_equal "smtp errno" "$(grep '^{' <<<"$output" | jq -r .errno)" EACCES
    # Out of the rules' scope: passed through slirp4netns, and nothing listens on port 25.
    run "${recipe[@]}" --annotation project=other --rootfs "$OCI_ROOTFS" \
        /bin/probe errno "$HOST" 25
    assert_equal "other project errno" "$(grep '^{' <<<"$output" | jq -r .errno)" ECONNREFUSED
    "${recipe[@]}" --detach --annotation project=shop \
        --annotation "io.sockgate.publish=127.0.0.1:$PUBLISHED_PORT:8080" \
        --rootfs "$OCI_ROOTFS" /bin/probe serve 8080 1 >/dev/null
    wait_for_status '.containers | length' 1
    for _ in $(seq 100); do
        podman_test ps -q | grep -q . && podman_test logs --latest 2>/dev/null |
            grep -q '"listening": true' && break
        sleep 0.1
    done
    run echo_through_port "$PUBLISHED_PORT" "through the recipe"

    assert_equal "published echo" "$output" "through the recipe"
    assert_status '.rules[] | select(.name == "shop-web-out") | .connect_matches' 1
    assert_status '.rules[] | select(.name == "shop-no-smtp") | .connect_matches' 1
    assert_equal "profile notify rule" "$(jq -c '.syscalls[0]' "$SOCKGATE_PROFILE")" \
        '{"names":["connect","bind"],"action":"SCMP_ACT_NOTIFY"}'
}
