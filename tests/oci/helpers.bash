# shellcheck shell=bash
# Shared setup of the container engine suites, loaded with `load helpers`.
#
# The suites run `sockgate serve` and real runtimes (runc, crun, Podman) rootless, as the
# unprivileged test user, against the test host that tests/lib/testhosts.sh sets up. Every
# container runs in a root filesystem that the test builds in its temporary folder from the static
# busybox of busybox-static and the static sockgate probe. No image is pulled. They need:
#   SOCKGATE               path of the sockgate binary (CTest sets it)
#   SOCKGATE_PROBE_STATIC  path of the statically linked sockgate-probe (CTest sets it)
#   SOCKGATE_SOURCE_DIR    the source tree, for examples/ (CTest sets it)
#   SOCKGATE_TEST_ENV      the test host env file (default /run/sockgate-test/env)

# Ports on the host's loopback that published container ports and the metrics exporter use.
# shellcheck disable=SC2034 # used by the suites that load this file
readonly PUBLISHED_PORT=18281
# shellcheck disable=SC2034
readonly METRICS_PORT=19471

# Skips the test unless the binaries, the test host and runc are there. Then it prepares the
# test's folder: a private XDG_RUNTIME_DIR, the root filesystem, and the socket paths.
setup_oci() {
    if [[ -z ${SOCKGATE:-} || ! -x $SOCKGATE ]]; then
        skip "SOCKGATE is not set to an executable sockgate binary (got '${SOCKGATE:-}')"
    fi
    if [[ -z ${SOCKGATE_PROBE_STATIC:-} || ! -x $SOCKGATE_PROBE_STATIC ]]; then
        skip "SOCKGATE_PROBE_STATIC is not set to the static probe" \
            "(got '${SOCKGATE_PROBE_STATIC:-}')"
    fi
    local env_file=${SOCKGATE_TEST_ENV:-/run/sockgate-test/env}
    if [[ ! -r $env_file ]]; then
        skip "test host env file $env_file not found; set up the test hosts with tests/run.sh"
    fi
    set -a
    # shellcheck source=/dev/null
    source "$env_file"
    set +a
    HOST=$SOCKGATE_TEST_HOST_IPV4
    ECHO_PORT=$SOCKGATE_TEST_ECHO_PORT
    REFUSED_PORT=$SOCKGATE_TEST_REFUSED_PORT
    command -v runc >/dev/null || skip "runc is not installed (Debian package runc)"
    command -v jq >/dev/null || skip "jq is not installed (Debian package jq)"
    if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
        skip "/bin/busybox is missing or not static; install the Debian package busybox-static"
    fi

    OCI_WORK=$BATS_TEST_TMPDIR
    mkdir -m 0700 "$OCI_WORK/run"
    export XDG_RUNTIME_DIR=$OCI_WORK/run
    OCI_ROOTFS=$OCI_WORK/rootfs
    RUNC_ROOT=$OCI_WORK/runc
    LISTENER=$OCI_WORK/sockgate/listener.sock
    CONTROL=$OCI_WORK/sockgate/control.sock
    SERVE_LOG=$OCI_WORK/serve.log
    make_rootfs
}

# Builds the root filesystem: busybox, a few applet links, and the probe as /bin/probe.
make_rootfs() {
    mkdir -p "$OCI_ROOTFS"/{bin,dev,proc,sys,tmp,etc}
    cp /bin/busybox "$OCI_ROOTFS/bin/busybox"
    local applet
    for applet in sh sleep cat echo nc; do
        ln -s busybox "$OCI_ROOTFS/bin/$applet"
    done
    cp "$SOCKGATE_PROBE_STATIC" "$OCI_ROOTFS/bin/probe"
}

# Stops what the test started: containers, serve, helper processes.
teardown_oci() {
    local name
    if [[ -d ${RUNC_ROOT:-} ]]; then
        for name in $(runc --root "$RUNC_ROOT" list -q 2>/dev/null); do
            runc --root "$RUNC_ROOT" delete --force "$name" >/dev/null 2>&1 || true
        done
    fi
    if [[ -n ${SERVE_PID:-} ]]; then
        stop_background "$SERVE_PID"
    fi
}

# Starts `sockgate serve` in the background with debug logging to $SERVE_LOG, plus the given
# flags, and waits until both of its sockets exist. The metrics exporter is off unless the flags
# set --metrics.
start_serve() {
    local metrics=(--metrics none)
    [[ " $* " == *" --metrics "* ]] && metrics=()
    "$SOCKGATE" serve --listener "$LISTENER" --control "$CONTROL" "${metrics[@]}" \
        --log-level debug "$@" >"$SERVE_LOG" 2>&1 3>&- &
    SERVE_PID=$!
    wait_for_serve_sockets
}

# Waits up to 10 s until serve ($SERVE_PID) has created $LISTENER and $CONTROL.
wait_for_serve_sockets() {
    for _ in $(seq 100); do
        [[ -S $LISTENER && -S $CONTROL ]] && return 0
        if ! kill -0 "$SERVE_PID" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "sockgate serve did not create $LISTENER and $CONTROL within 10 s; its log:" >&2
    cat "$SERVE_LOG" >&2
    return 1
}

# Writes $OCI_WORK/profile.json with `sockgate profile` and the given flags.
write_profile() {
    "$SOCKGATE" profile --listener "$LISTENER" "$@" >"$OCI_WORK/profile.json"
}

# Creates the runc bundle $OCI_WORK/bundles/NAME from `runc spec --rootless` with a network
# namespace added back, the command ARGS_JSON (a JSON array), the annotations (a JSON object)
# and the seccomp section from $OCI_WORK/profile.json.
make_bundle() {
    local name=$1 args=$2 annotations=${3:-'{}'}
    local bundle=$OCI_WORK/bundles/$name
    mkdir -p "$bundle"
    (cd "$bundle" && runc spec --rootless)
    jq --slurpfile profile "$OCI_WORK/profile.json" --argjson args "$args" \
        --argjson annotations "$annotations" --arg rootfs "$OCI_ROOTFS" '
        .process.terminal = false | .process.args = $args | .root.path = $rootfs |
        .linux.namespaces += [{"type": "network"}] | .linux.seccomp = $profile[0] |
        .annotations = $annotations' "$bundle/config.json" >"$bundle/config.json.new"
    mv "$bundle/config.json.new" "$bundle/config.json"
}

# Prints the JSON argument list that runs the probe in a container: /bin/probe SCENARIO ARGS...
probe_command() {
    jq -cn '["/bin/probe"] + $ARGS.positional' --args "$@"
}

# Prints the JSON argument list that runs a busybox shell script in a container.
shell_command() {
    jq -cn '["/bin/sh", "-c", $script]' --arg script "$1"
}

# Runs the bundle NAME with runc in the foreground.
runc_run() {
    local name=$1
    runc --root "$RUNC_ROOT" run --bundle "$OCI_WORK/bundles/$name" "$name"
}

# Prints the status of the running serve as JSON.
serve_status() {
    "$SOCKGATE" status --control "$CONTROL" --json
}

# Fails unless a jq filter applied to the status of serve gives the expected value.
assert_status() {
    local filter=$1 expected=$2 actual
    actual=$(serve_status | jq -r "$filter")
    if [[ $actual != "$expected" ]]; then
        echo "status $filter is '$actual', expected '$expected'; the serve log follows:" >&2
        cat "$SERVE_LOG" >&2
        return 1
    fi
}

# Waits up to 10 s until a jq filter applied to the status of serve gives the expected value.
wait_for_status() {
    local filter=$1 expected=$2
    for _ in $(seq 100); do
        [[ $(serve_status | jq -r "$filter") == "$expected" ]] && return 0
        sleep 0.1
    done
    assert_status "$filter" "$expected"
}

# Fails unless two values are equal, naming what was compared.
assert_equal() {
    local what=$1 actual=$2 expected=$3
    if [[ $actual != "$expected" ]]; then
        echo "$what is '$actual', expected '$expected'" >&2
        if [[ -f ${SERVE_LOG:-} ]]; then
            echo "the serve log:" >&2
            cat "$SERVE_LOG" >&2
        fi
        return 1
    fi
}

# Fails unless the serve log has a line that contains the text.
assert_logged() {
    local text=$1
    if ! grep -q -F -- "$text" "$SERVE_LOG"; then
        echo "the serve log has no line with '$text'; it follows:" >&2
        cat "$SERVE_LOG" >&2
        return 1
    fi
}

# Waits up to 10 s until a file contains the text.
wait_for_text() {
    local file=$1 text=$2
    for _ in $(seq 100); do
        grep -q -F -- "$text" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$file has no '$text' after 10 s; it contains:" >&2
    cat "$file" >&2
    return 1
}

# Sends a line to 127.0.0.1:PORT, closes the sending side and prints what came back.
echo_through_port() {
    local port=$1 text=$2
    python3 - "$port" "$text" <<'PYTHON'
import socket
import sys

with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as client:
    client.sendall(sys.argv[2].encode())
    client.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := client.recv(4096):
        reply += chunk
print(reply.decode())
PYTHON
}

# Stops a background process with SIGTERM and waits for it, with SIGKILL after 5 s.
stop_background() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Writes $OCI_WORK/host.rules, the rules that the runtime suites share. The test host's refused
# port is denied with EPERM (a container without sockgate would get ENETUNREACH or ECONNREFUSED
# there), the rest of the test host is bypassed, and everything else passes.
write_host_rules() {
    cat >"$OCI_WORK/host.rules" <<RULES
rule denied-port: deny connect tcp to $HOST port $REFUSED_PORT errno EPERM
rule test-host: bypass connect tcp to $HOST
default pass
RULES
}

# Skips the test unless Podman is installed, then points Podman's storage, runtime and
# configuration directories into the test's folder: vfs storage, cgroupfs (no systemd needed),
# events in a file. podman_run then runs `podman run` there.
setup_podman() {
    command -v podman >/dev/null || skip "podman is not installed (Debian package podman)"
    command -v slirp4netns >/dev/null || skip "slirp4netns is not installed"
    PODMAN_DIR=$OCI_WORK/podman
    mkdir -p "$PODMAN_DIR"/{config/containers,root,runroot,tmp}
    cat >"$PODMAN_DIR/config/containers/containers.conf" <<CONF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
runtime = "runc"
static_dir = "$PODMAN_DIR/root/libpod"
tmp_dir = "$PODMAN_DIR/tmp"
volume_path = "$PODMAN_DIR/root/volumes"
CONF
    cat >"$PODMAN_DIR/config/containers/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$PODMAN_DIR/root"
runroot = "$PODMAN_DIR/runroot"
CONF
    export XDG_CONFIG_HOME=$PODMAN_DIR/config
    export CONTAINERS_CONF=$PODMAN_DIR/config/containers/containers.conf
    export CONTAINERS_STORAGE_CONF=$PODMAN_DIR/config/containers/storage.conf
}

# Runs podman with the test's storage and runtime directories.
podman_test() {
    podman --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/runroot" --tmpdir "$PODMAN_DIR/tmp" "$@"
}

# Runs `podman run --rm` of the test's root filesystem with runc, slirp4netns and the seccomp
# profile $OCI_WORK/profile.json. Usage: podman_run [PODMAN_OPTIONS...] -- COMMAND [ARGS...]
podman_run() {
    local options=()
    while (($# > 0)) && [[ $1 != -- ]]; do
        options+=("$1")
        shift
    done
    shift
    podman_test run --rm --runtime runc --network slirp4netns \
        --security-opt "seccomp=$OCI_WORK/profile.json" "${options[@]}" --rootfs "$OCI_ROOTFS" "$@"
}

# Removes the test's Podman containers and stops the pause process that rootless Podman keeps
# per runtime directory to hold its user namespace; it would outlive the test otherwise.
teardown_podman() {
    if [[ -z ${PODMAN_DIR:-} ]]; then
        return 0
    fi
    podman_test rm --all --force --time 0 >/dev/null 2>&1 || true
    local pause_pid
    pause_pid=$(cat "$PODMAN_DIR/tmp/pause.pid" 2>/dev/null) || return 0
    kill -KILL "$pause_pid" 2>/dev/null || true
}
