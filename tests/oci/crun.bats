#!/usr/bin/env bats
# crun rootless with `sockgate serve` as its seccomp agent, with the same bundles as the runc
# suite. crun 1.8.1 refuses to start any container on hosts with hybrid cgroups ("cgroups in
# hybrid mode not supported"); the cases then skip with crun's own message.

load helpers

setup() {
    setup_oci
    command -v crun >/dev/null || skip "crun is not installed (Debian package crun)"
    CRUN_ROOT=$OCI_WORK/crun
    write_host_rules
    write_profile
    skip_unless_crun_starts
}

teardown() {
    local name
    if [[ -d ${CRUN_ROOT:-} ]]; then
        for name in $(crun --root "$CRUN_ROOT" list -q 2>/dev/null); do
            crun --root "$CRUN_ROOT" delete --force "$name" >/dev/null 2>&1 || true
        done
    fi
    teardown_oci
}

crun_run() {
    local name=$1
    crun --root "$CRUN_ROOT" run --bundle "$OCI_WORK/bundles/$name" "$name"
}

# Starts a container without a seccomp profile and skips the test with crun's message when crun
# cannot start containers on this host.
skip_unless_crun_starts() {
    make_bundle crun-check '["/bin/busybox", "true"]'
    jq 'del(.linux.seccomp)' "$OCI_WORK/bundles/crun-check/config.json" >"$OCI_WORK/check.json"
    mv "$OCI_WORK/check.json" "$OCI_WORK/bundles/crun-check/config.json"
    local output
    if output=$(crun_run crun-check 2>&1); then
        return 0
    fi
    if [[ $output == *"cgroups in hybrid mode not supported"* ]]; then
        local version
        version=$(crun --version | awk 'NR == 1 {print $3}')
        skip "crun $version cannot start containers here: $output"
    fi
    echo "crun failed to start a container without sockgate: $output" >&2
    return 1
}

@test "crun connect bypassed" {
    start_serve --rules "$OCI_WORK/host.rules"
    make_bundle echo "$(probe_command flags "$HOST" "$ECHO_PORT")"

    run crun_run echo

    assert_equal "exit status" "$status" 0
    assert_equal "bypassed" "$(jq -r .bypassed <<<"$output")" true
    assert_equal "echo" "$(jq -r .echo <<<"$output")" true
    assert_status '.rules[] | select(.name == "test-host") | .connect_matches' 1
}

@test "crun denied connect gets rule errno" {
    start_serve --rules "$OCI_WORK/host.rules"
    make_bundle denied "$(probe_command errno "$HOST" "$REFUSED_PORT")"

    run crun_run denied

    assert_equal "exit status" "$status" 0
    assert_equal "errno" "$(jq -r .errno <<<"$output")" EPERM
    assert_status '.rules[] | select(.name == "denied-port") | .connect_matches' 1
}

@test "crun published port reachable from host" {
    start_serve
    make_bundle server '["/bin/probe", "serve", "8080", "1"]' \
        '{"io.sockgate.publish": "127.0.0.1:'"$PUBLISHED_PORT"':8080"}'
    crun_run server >"$OCI_WORK/server.out" 2>&1 &
    local crun_pid=$!
    wait_for_text "$OCI_WORK/server.out" '"listening": true'

    run echo_through_port "$PUBLISHED_PORT" "through crun"

    assert_equal "exit status" "$status" 0
    assert_equal "echoed text" "$output" "through crun"
    wait "$crun_pid"
}
