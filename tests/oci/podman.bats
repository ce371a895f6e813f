#!/usr/bin/env bats
# Rootless Podman with `podman run --runtime runc --rootfs DIR --network slirp4netns
# --security-opt seccomp=PROFILE`, the profile made from Podman's own default profile: Podman
# passes listenerPath and the container's annotations through to runc, which hands the
# container to `sockgate serve`.

load helpers

setup() {
    setup_oci
    setup_podman
    write_host_rules
    write_profile --base "$SOCKGATE_SOURCE_DIR/examples/seccomp/podman-default.json"
}

teardown() {
    teardown_podman
    teardown_oci
}

@test "podman connect bypassed" {
    start_serve --rules "$OCI_WORK/host.rules"

    run podman_run --annotation team=web -- \
        /bin/probe flags "$HOST" "$ECHO_PORT"

    assert_equal "exit status" "$status" 0
    local result
    result=$(grep '^{' <<<"$output")
    assert_equal "bypassed" "$(jq -r .bypassed <<<"$result")" true
    assert_equal "echo" "$(jq -r .echo <<<"$result")" true
    assert_status '.rules[] | select(.name == "test-host") | .connect_matches' 1
    assert_logged "connect tcp $HOST:$ECHO_PORT -> bypass"
}

@test "podman denied connect gets rule errno" {
    start_serve --rules "$OCI_WORK/host.rules"

    run podman_run -- /bin/probe errno "$HOST" "$REFUSED_PORT"

    assert_equal "exit status" "$status" 0
    assert_equal "errno" "$(grep '^{' <<<"$output" | jq -r .errno)" EPERM
    assert_status '.rules[] | select(.name == "denied-port") | .connect_matches' 1
}

@test "podman published port reachable from host" {
    start_serve
    podman_run --detach --name server \
        --annotation "io.sockgate.publish=127.0.0.1:$PUBLISHED_PORT:8080" -- \
        /bin/probe serve 8080 1 >"$OCI_WORK/server.id"
    wait_for_status '.containers | length' 1
    # Podman's log of the container: its first line tells that the probe listens.
    for _ in $(seq 100); do
        podman_test logs server 2>/dev/null | grep -q '"listening": true' && break
        sleep 0.1
    done

    run echo_through_port "$PUBLISHED_PORT" "through podman"

    assert_equal "exit status" "$status" 0
    assert_equal "echoed text" "$output" "through podman"
}

@test "podman labels come from annotations" {
    cat >"$OCI_WORK/scoped.rules" <<RULES
scope if label team=web
rule web-deny: deny connect tcp to $HOST errno EPERM
RULES
    start_serve --rules "$OCI_WORK/scoped.rules"
    local target=("$HOST" "$ECHO_PORT")

    run podman_run --annotation team=web -- /bin/probe errno "${target[@]}"
    local web=$output
    run podman_run --annotation team=batch -- /bin/probe errno "${target[@]}"
    local batch=$output

    assert_equal "web errno" "$(grep '^{' <<<"$web" | jq -r .errno)" EPERM
    # Not in scope: passed to slirp4netns, which reaches the test host through the host.
    assert_equal "batch errno" "$(grep '^{' <<<"$batch" | jq -r .errno)" 0
    assert_status '.rules[] | select(.name == "web-deny") | .connect_matches' 1
    assert_status '.decisions.pass' 1
}
