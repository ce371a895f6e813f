#!/usr/bin/env bats
# `sockgate profile` against the real default profiles in examples/seccomp/: its output keeps the
# base's rules, runc 1.1.5 accepts it, and it fails Fast Open sends and io_uring in the
# container. Three cases record how runc (with libseccomp 2.5.4) treats other rules for the same
# calls, which the generator is built around.

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
    # sockgate's rules come first: notify, then the Fast Open errno and allow rules of sendto,
    # sendmsg and sendmmsg. Podman's defaultAction already fails io_uring with ENOSYS.
    local added=7 base_rules
    base_rules=$(jq '.syscalls | length' "$base")
    assert_equal "rule count" "$(jq '.syscalls | length' "$profile")" "$((base_rules + added))"
    assert_equal "notify rule" "$(jq -c '.syscalls[0]' "$profile")" \
        '{"names":["connect","bind"],"action":"SCMP_ACT_NOTIFY"}'
    assert_equal "fast open rules" "$(jq -c '[.syscalls[1:7][] | [.names[0], .action,
        .args[0].index, .args[0].valueTwo]]' "$profile")" \
        '[["sendto","SCMP_ACT_ERRNO",3,536870912],["sendmsg","SCMP_ACT_ERRNO",2,536870912],'\
'["sendmmsg","SCMP_ACT_ERRNO",3,536870912],["sendto","SCMP_ACT_ALLOW",3,0],'\
'["sendmsg","SCMP_ACT_ALLOW",2,0],["sendmmsg","SCMP_ACT_ALLOW",3,0]]'
    assert_equal "rules after the allow list" \
        "$(jq -c ".syscalls[$((added + 2)):]" "$profile")" "$(jq -c '.syscalls[2:]' "$base")"
    assert_equal "first rule" "$(jq -c ".syscalls[$added]" "$profile")" \
        "$(jq -c '.syscalls[0]' "$base")"
    assert_equal "allow list" "$(jq -c ".syscalls[$((added + 1))].names" "$profile")" \
        "$(jq -c '.syscalls[1].names - ["connect", "bind", "sendto", "sendmsg", "sendmmsg"]' \
            "$base")"
    assert_equal "other keys" \
        "$(jq -c 'del(.syscalls, .listenerPath, .listenerMetadata)' "$profile")" \
        "$(jq -c 'del(.syscalls)' "$base")"
    assert_equal "listener" "$(jq -r .listenerPath "$profile")" "$LISTENER"
    assert_equal "metadata" "$(jq -r .listenerMetadata "$profile")" m1
    local notes="sockgate: note: took connect, bind out of syscalls[1] of $base (SCMP_ACT_ALLOW):"
    notes+=" the notify rule covers them"$'\n'
    notes+="sockgate: note: took sendto, sendmsg, sendmmsg out of syscalls[1] of $base"
    notes+=" (SCMP_ACT_ALLOW): they are allowed only without MSG_FASTOPEN, because Fast Open"
    notes+=" sends fail with EOPNOTSUPP"
    assert_equal "notes" "$stderr" "$notes"
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

# Runs the send guard probe in a container with $OCI_WORK/profile.json and prints its output:
# the errno of sendto and sendmsg with MSG_FASTOPEN, of io_uring_setup, and of a plain sendto.
run_send_guard_probe() {
    local name=$1
    cp "$SOCKGATE_SEND_GUARD_PROBE" "$OCI_ROOTFS/bin/send-guard-probe"
    make_bundle "$name" '["/bin/send-guard-probe", "9"]'
    runc_run "$name"
}

# What the probe prints when Fast Open sends fail with EOPNOTSUPP (95), io_uring_setup with
# ENOSYS (38), and a plain sendto works.
readonly GUARDED='{"sendto_fastopen":95,"sendmsg_fastopen":95,"io_uring_setup":38,"sendto":0}'

@test "profile without base guards sends in runc" {
    [[ -x ${SOCKGATE_SEND_GUARD_PROBE:-} ]] || skip "SOCKGATE_SEND_GUARD_PROBE is not set"
    start_serve --rules "$OCI_WORK/host.rules"
    write_profile

    run run_send_guard_probe nobase

    assert_equal "exit status" "$status" 0
    assert_equal "probe output" "$(jq -c . <<<"$output")" "$GUARDED"
}

@test "profile of runc default guards sends in runc" {
    [[ -x ${SOCKGATE_SEND_GUARD_PROBE:-} ]] || skip "SOCKGATE_SEND_GUARD_PROBE is not set"
    start_serve --rules "$OCI_WORK/host.rules"
    write_profile --base "$EXAMPLES/runc-default.json"

    run run_send_guard_probe default

    assert_equal "exit status" "$status" 0
    assert_equal "probe output" "$(jq -c . <<<"$output")" "$GUARDED"
}

@test "profile unguarded control sends in runc" {
    # The same container with the notify rule alone: the kernel runs the Fast Open sends (the
    # port is closed, so ECONNREFUSED, 111) and io_uring_setup, which shows that the values
    # above come from the profile's rules.
    [[ -x ${SOCKGATE_SEND_GUARD_PROBE:-} ]] || skip "SOCKGATE_SEND_GUARD_PROBE is not set"
    start_serve --rules "$OCI_WORK/host.rules"
    jq -n --arg listener "$LISTENER" '{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": $listener,
        "syscalls": [{"names": ["connect", "bind"], "action": "SCMP_ACT_NOTIFY"}]}' \
        >"$OCI_WORK/profile.json"

    run run_send_guard_probe control

    assert_equal "exit status" "$status" 0
    assert_equal "probe output" "$(jq -c . <<<"$output")" \
        '{"sendto_fastopen":111,"sendmsg_fastopen":111,"io_uring_setup":0,"sendto":0}'
}

@test "profile fast open rule beside allow list in runc" {
    # What sockgate profile avoids: the Fast Open rules put in front of the base while its allow
    # list still names sendto, sendmsg and sendmmsg without conditions.
    [[ -x ${SOCKGATE_SEND_GUARD_PROBE:-} ]] || skip "SOCKGATE_SEND_GUARD_PROBE is not set"
    start_serve --rules "$OCI_WORK/host.rules"
    write_profile --base "$EXAMPLES/runc-default.json"
    jq '(.syscalls[] | select(.names | index("socketcall"))).names +=
        ["sendto", "sendmsg", "sendmmsg"]' "$OCI_WORK/profile.json" >"$OCI_WORK/beside.json"
    mv "$OCI_WORK/beside.json" "$OCI_WORK/profile.json"

    run run_send_guard_probe beside

    # runc accepts the profile, but the allow list decides every send: the Fast Open sends reach
    # the kernel, which refuses the connection to the closed port.
    assert_equal "exit status" "$status" 0
    assert_equal "probe output" "$(jq -c . <<<"$output")" \
        '{"sendto_fastopen":111,"sendmsg_fastopen":111,"io_uring_setup":38,"sendto":0}'
}
