#!/usr/bin/env bats
# `sockgate profile` against the real default profiles in examples/seccomp/: its output keeps the
# base's rules and runc 1.1.5 accepts it. Two cases record how runc (with libseccomp 2.5.4)
# treats other rules for connect and bind, which the generator is built around.

bats_require_minimum_version 1.5.0

load helpers

setup() {
    setup_oci
    write_host_rules
    EXAMPLES=$SOCKGATE_SOURCE_DIR/examples/seccomp
}

teardown() {
    teardown_oci
}

# Runs a container that connects to the test host's echo port and checks that it was bypassed.
assert_bypassed_in_runc() {
    local name=$1
    make_bundle "$name" "$(probe_command flags "$HOST" "$ECHO_PORT")"
    run runc_run "$name"
    assert_equal "$name exit status" "$status" 0
    assert_equal "$name bypassed" "$(jq -r .bypassed <<<"$output")" true
}

@test "profile of runc default accepted by runc" {
    start_serve --rules "$OCI_WORK/host.rules"

    write_profile --base "$EXAMPLES/runc-default.json"

    assert_bypassed_in_runc default
    assert_status '.decisions.bypass' 1
}

@test "profile keeps podman default rules" {
    local base=$EXAMPLES/podman-default.json

    run --separate-stderr "$SOCKGATE" profile --base "$base" --listener "$LISTENER" --metadata m1

    assert_equal "exit status" "$status" 0
    local profile=$OCI_WORK/out.json
    echo "$output" >"$profile"
    local base_rules
    base_rules=$(jq '.syscalls | length' "$base")
    assert_equal "rule count" "$(jq '.syscalls | length' "$profile")" "$((base_rules + 1))"
    assert_equal "notify rule" "$(jq -c '.syscalls[0]' "$profile")" \
        '{"names":["connect","bind"],"action":"SCMP_ACT_NOTIFY"}'
    assert_equal "rules after the allow list" \
        "$(jq -c '.syscalls[3:]' "$profile")" "$(jq -c '.syscalls[2:]' "$base")"
    assert_equal "first rule" "$(jq -c '.syscalls[1]' "$profile")" "$(jq -c '.syscalls[0]' "$base")"
    assert_equal "allow list" "$(jq -c '.syscalls[2].names' "$profile")" \
        "$(jq -c '.syscalls[1].names - ["connect", "bind"]' "$base")"
    assert_equal "other keys" \
        "$(jq -c 'del(.syscalls, .listenerPath, .listenerMetadata)' "$profile")" \
        "$(jq -c 'del(.syscalls)' "$base")"
    assert_equal "listener" "$(jq -r .listenerPath "$profile")" "$LISTENER"
    assert_equal "metadata" "$(jq -r .listenerMetadata "$profile")" m1
    local note="sockgate: note: took connect, bind out of syscalls[1] of $base (SCMP_ACT_ALLOW):"
    assert_equal "note" "$stderr" "$note the notify rule covers them"
}

@test "profile rejects other listener path" {
    jq '.listenerPath = "/run/agent.sock"' "$EXAMPLES/runc-default.json" >"$OCI_WORK/agent.json"

    run --separate-stderr "$SOCKGATE" profile --base "$OCI_WORK/agent.json" --listener "$LISTENER"

    assert_equal "exit status" "$status" 1
    assert_equal "output" "$output" ""
    local expected="sockgate: $OCI_WORK/agent.json already sends notifications to"
    expected+=" /run/agent.sock, but sockgate's listener is $LISTENER; remove listenerPath from"
    expected+=" the base, or pass --listener /run/agent.sock if sockgate serve listens there"
    assert_equal "error" "$stderr" "$expected"
}

@test "profile conditional rule has no effect in runc" {
    # A base rule that denies every IPv4 connect (address length 16) with EPERM.
    jq '.syscalls += [{"names": ["connect"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
        "args": [{"index": 2, "value": 16, "op": "SCMP_CMP_EQ"}]}]' \
        "$EXAMPLES/runc-default.json" >"$OCI_WORK/conditional.json"
    start_serve --rules "$OCI_WORK/host.rules"

    run --separate-stderr "$SOCKGATE" profile --base "$OCI_WORK/conditional.json" \
        --listener "$LISTENER"
    echo "$output" >"$OCI_WORK/profile.json"

    assert_equal "exit status" "$status" 0
    assert_equal "warning" "$(grep -c 'sets conditions on the arguments of connect' <<<"$stderr")" 1
    # runc accepts the profile, and the notify rule decides the IPv4 connect.
    assert_bypassed_in_runc conditional
}

@test "profile base rule after notify fails runc" {
    # What sockgate profile avoids: the notify rule put in front of the base unchanged, so the
    # base's allow list still names connect and bind.
    jq --arg listener "$LISTENER" '.listenerPath = $listener |
        .syscalls = [{"names": ["connect", "bind"], "action": "SCMP_ACT_NOTIFY"}] + .syscalls' \
        "$EXAMPLES/runc-default.json" >"$OCI_WORK/profile.json"
    start_serve --rules "$OCI_WORK/host.rules"
    make_bundle unchanged '["/bin/probe", "errno", "127.0.0.1", "9"]'

    run runc_run unchanged

    assert_equal "exit status" "$status" 1
    local error="error adding seccomp filter rule for syscall bind: file exists"
    assert_equal "runc error" "$(grep -c -F "$error" <<<"$output")" 1
}
