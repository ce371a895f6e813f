#!/usr/bin/env bash
# sockgate demo: iperf3 throughput to a test host measured three ways, as an unprivileged user.
#   host         iperf3 in the host's network namespace
#   slirp4netns  sockgate run --no-filter: a rootless network namespace behind slirp4netns,
#                with no seccomp filter
#   sockgate     sockgate run: the same namespace, with connect() bypassed to a host socket
# It installs the Debian packages it needs, builds sockgate, sets up the test host in a network
# namespace (198.18.0.2), prints a table with Gbit/s and ratios to the host, then the decisions
# that sockgate logged, and removes the test host. Run as root: sudo bash examples/demo.sh
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: sudo bash examples/demo.sh [--seconds N] [--keep] [--binary PATH]

  --seconds N    length of each iperf3 run in seconds (default 10)
  --keep         leave the test host running afterwards
  --binary PATH  use this sockgate binary (readable by the user sgtest) instead of building
USAGE
}

REPO_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/lib/common.sh
source "$REPO_DIR/tests/lib/common.sh"
# shellcheck source=tests/lib/deps.sh
source "$REPO_DIR/tests/lib/deps.sh"
# shellcheck source=tests/lib/testuser.sh
source "$REPO_DIR/tests/lib/testuser.sh"
# shellcheck source=tests/lib/testhosts.sh
source "$REPO_DIR/tests/lib/testhosts.sh"
# shellcheck source=tests/lib/build.sh
source "$REPO_DIR/tests/lib/build.sh"
export PATH=$COMMON_SYSTEM_PATH

SECONDS_PER_RUN=10
KEEP=0
SOCKGATE_BINARY=

parse_arguments() {
    while (($# > 0)); do
        case $1 in
        --seconds)
            [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a positive whole number"
            SECONDS_PER_RUN=$2
            shift
            ;;
        --keep) KEEP=1 ;;
        --binary)
            [[ -n ${2:-} ]] || die "--binary needs the path of a sockgate binary"
            SOCKGATE_BINARY=$(realpath -- "$2")
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown argument '$1'"
            ;;
        esac
        shift
    done
}

# Runs iperf3 against the test host as the test user, optionally through a prefix command, and
# writes its JSON report to $1 and stderr to $2.
run_iperf3() {
    local report=$1 log=$2
    shift 2
    testuser_run "$@" iperf3 --client "$TESTHOSTS_HOST_IPV4" --port "$TESTHOSTS_IPERF3_PORT" \
        --time "$SECONDS_PER_RUN" --json >"$report" 2>"$log" || true
    local error
    error=$(jq -r '.error // empty' "$report" 2>/dev/null || echo "no JSON report")
    if [[ -n $error ]]; then
        cat "$log" >&2
        head -c 2000 "$report" >&2
        die "iperf3 failed: $error"
    fi
}

# Prints the received throughput of an iperf3 JSON report in Gbit/s.
gigabits_per_second() {
    jq -r '.end.sum_received.bits_per_second / 1e9' "$1"
}

print_table() {
    local host=$1 slirp=$2 bypass=$3
    awk -v host="$host" -v slirp="$slirp" -v bypass="$bypass" -v seconds="$SECONDS_PER_RUN" '
        BEGIN {
            printf "\niperf3 to the test host, one TCP stream, %d s each\n\n", seconds
            printf "%-36s %10s %10s\n", "path", "Gbit/s", "vs host"
            printf "%-36s %10.2f %10.2f\n", "host", host, 1
            printf "%-36s %10.2f %10.2f\n", "slirp4netns alone (run --no-filter)", slirp,
                slirp / host
            printf "%-36s %10.2f %10.2f\n", "sockgate (run, bypass)", bypass, bypass / host
            printf "\nsockgate vs slirp4netns alone: %.1fx\n", bypass / slirp
        }'
}

# Builds the sockgate target as the test user in its copy of the tree, quietly unless it fails.
build_sockgate() {
    log_info "building sockgate as $TESTUSER_NAME in $BUILD_WORK_DIR (minutes the first time)"
    local build_log
    build_log=$(mktemp /tmp/sockgate-demo-build.XXXXXX.log)
    if ! { build_copy_source "$REPO_DIR" && build_configure && build_targets sockgate; } \
        >"$build_log" 2>&1; then
        tail -n 40 "$build_log" >&2
        die "building sockgate failed; the whole output is in $build_log"
    fi
    rm -f "$build_log"
}

cleanup() {
    if ((KEEP)); then
        log_info "--keep: the test host stays up, with its addresses in $TESTHOSTS_ENV_FILE"
    else
        testhosts_teardown
    fi
    [[ -n ${RESULT_DIR:-} ]] && rm -rf "$RESULT_DIR"
}

main() {
    parse_arguments "$@"
    require_root "examples/demo.sh"
    run_exclusively "$REPO_DIR/examples/demo.sh" "$@"

    deps_install
    testuser_setup
    local sockgate=$SOCKGATE_BINARY
    if [[ -z $sockgate ]]; then
        build_sockgate
        sockgate=$BUILD_BINARY_DIR/core/sockgate
    fi
    testuser_run test -x "$sockgate" || die "$sockgate is not executable by $TESTUSER_NAME"

    trap cleanup EXIT
    testhosts_setup
    RESULT_DIR=$(mktemp -d /tmp/sockgate-demo.XXXXXX)
    chown "$TESTUSER_NAME:" "$RESULT_DIR"

    log_info "iperf3 from the host (${SECONDS_PER_RUN} s)"
    run_iperf3 "$RESULT_DIR/host.json" "$RESULT_DIR/host.log"
    log_info "iperf3 through slirp4netns alone: sockgate run --no-filter"
    run_iperf3 "$RESULT_DIR/slirp.json" "$RESULT_DIR/slirp.log" \
        "$sockgate" run --metrics none --no-filter --
    log_info "iperf3 through sockgate: sockgate run --log-level debug"
    run_iperf3 "$RESULT_DIR/bypass.json" "$RESULT_DIR/bypass.log" \
        "$sockgate" run --metrics none --log-level debug --

    print_table "$(gigabits_per_second "$RESULT_DIR/host.json")" \
        "$(gigabits_per_second "$RESULT_DIR/slirp.json")" \
        "$(gigabits_per_second "$RESULT_DIR/bypass.json")"
    print_decisions "$RESULT_DIR/bypass.log"
}

# Prints the decision lines of a sockgate debug log, which read "... connect tcp
# 198.18.0.2:5201 -> bypass (rule NAME)", or the whole log when it has none.
print_decisions() {
    local log=$1
    printf '\ndecisions of sockgate run (iperf3 opens a control and a data connection):\n'
    if ! grep -F -e ' -> bypass' -e ' -> pass' -e ' -> deny' "$log"; then
        echo "no decision lines; sockgate's whole log follows:"
        cat "$log"
    fi
}

main "$@"
