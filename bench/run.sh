#!/usr/bin/env bash
# Runs the side-by-side benchmarks: host, slirp4netns, pasta and sockgate in one run.
#
# As root it installs the Debian packages, creates the test user and the test host (or reuses a
# test host that is already up), builds Release as the test user, and starts the load
# generators' server on the test host. Then bench/suite.py runs every measurement as the
# unprivileged test user, printing one progress line per cell, and writes results.json,
# table.md and plot.png. A full run also rewrites the results section of docs/benchmarks.md.
set -uo pipefail

usage() {
    cat <<'USAGE'
usage: sudo bash bench/run.sh [--quick | --smoke] [--out DIR] [--build-dir DIR] [--no-deps]

  --quick          2 short runs per cell (about 70 seconds after the build)
  --smoke          1 tiny run per cell, to prove that the suite works; asserts no time
  --out DIR        where to write results.json, table.md and plot.png
                   (default: bench/results/full, bench/results/quick or bench/results/smoke)
  --build-dir DIR  use this CMake build directory (readable by the test user, with the targets
                   sockgate and bench_suite built) instead of building Release
  --no-deps        do not check or install the Debian packages

Without --quick or --smoke, 5 runs per cell (about 8 minutes after the build on 2 cores).
Environment: SOCKGATE_BUILD_JOBS (default 2) is the number of parallel compile jobs.
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

# The benchmark's own copy of the source and its Release build, apart from the tests' build.
BENCH_WORK_DIR=$TESTUSER_HOME/sockgate-bench
BUILD_WORK_DIR=$BENCH_WORK_DIR
BUILD_SOURCE_DIR=$BENCH_WORK_DIR/src
BUILD_BINARY_DIR=$BENCH_WORK_DIR/build-release

# Ports of bench_server on the test host: echo (request latency) and reply-then-close
# (connection rate).
readonly BENCH_ECHO_PORT=7101
readonly BENCH_REPLY_CLOSE_PORT=7102
BENCH_ENV_FILE=$BENCH_WORK_DIR/env

MODE=full
OUT_DIR=""
EXTERNAL_BUILD_DIR=""
INSTALL_DEPS=1
CREATED_TEST_HOSTS=0
SERVER_PID=""

parse_arguments() {
    while (($# > 0)); do
        case $1 in
        --quick) MODE=quick ;;
        --smoke) MODE=smoke ;;
        --out | --build-dir)
            [[ $# -ge 2 ]] || die "$1 needs a directory"
            if [[ $1 == --out ]]; then OUT_DIR=$2; else EXTERNAL_BUILD_DIR=$2; fi
            shift
            ;;
        --no-deps) INSTALL_DEPS=0 ;;
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
    OUT_DIR=$(realpath -m -- "${OUT_DIR:-$REPO_DIR/bench/results/$MODE}")
}

# Reuses a test host that another script left up (tests/run.sh --keep), or sets one up that
# this script removes again at the end.
prepare_test_host() {
    if [[ -r $TESTHOSTS_ENV_FILE ]] && ip netns list | grep -qw "^$TESTHOSTS_NETNS"; then
        log_info "reusing the test host in namespace $TESTHOSTS_NETNS"
        return 0
    fi
    testhosts_setup || return 1
    CREATED_TEST_HOSTS=1
}

# Copies the source tree for the test user (the suite's scripts run from there) and builds
# Release, unless --build-dir names a build to use.
prepare_build() {
    build_copy_source "$REPO_DIR" || return 1
    if [[ -n $EXTERNAL_BUILD_DIR ]]; then
        BUILD_BINARY_DIR=$EXTERNAL_BUILD_DIR
        log_info "using the build in $BUILD_BINARY_DIR"
        return 0
    fi
    log_info "building Release in $BUILD_BINARY_DIR as $TESTUSER_NAME"
    build_configure -DCMAKE_BUILD_TYPE=Release -DSOCKGATE_BUILD_TESTS=OFF >/dev/null &&
        build_targets bench_suite
}

# Starts bench_server in the test host's namespace on the test host's addresses, and writes the
# env file for the suite: the test host's addresses plus the server's ports.
start_bench_server() {
    local server=$BUILD_BINARY_DIR/bench/bench_server
    local v4=$TESTHOSTS_HOST_IPV4 v6="[$TESTHOSTS_HOST_IPV6]"
    testhosts_in_netns "$server" \
        --echo "$v4:$BENCH_ECHO_PORT" --echo "$v6:$BENCH_ECHO_PORT" \
        --reply-close "$v4:$BENCH_REPLY_CLOSE_PORT" --reply-close "$v6:$BENCH_REPLY_CLOSE_PORT" \
        </dev/null >"$BENCH_WORK_DIR/bench_server.log" 2>&1 &
    SERVER_PID=$!
    testhosts_wait_for_port "$BENCH_ECHO_PORT"
    testhosts_wait_for_port "$BENCH_REPLY_CLOSE_PORT"

    {
        cat "$TESTHOSTS_ENV_FILE"
        echo "SOCKGATE_BENCH_ECHO_PORT=$BENCH_ECHO_PORT"
        echo "SOCKGATE_BENCH_REPLY_CLOSE_PORT=$BENCH_REPLY_CLOSE_PORT"
    } >"$BENCH_ENV_FILE"
    chmod 0644 "$BENCH_ENV_FILE"
}

cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
    if ((CREATED_TEST_HOSTS)); then
        testhosts_teardown
        CREATED_TEST_HOSTS=0
    fi
}

# Runs the suite as the test user into a directory it owns, then copies the results to
# OUT_DIR. Returns the suite's exit status.
run_suite() {
    local staging=$BENCH_WORK_DIR/out-$MODE status=0
    testuser_run rm -rf "$staging"
    testuser_run mkdir -p "$staging"
    testuser_run python3 "$BUILD_SOURCE_DIR/bench/suite.py" --mode "$MODE" \
        --build-dir "$BUILD_BINARY_DIR" --env "$BENCH_ENV_FILE" --out "$staging" \
        --command "$COMMAND_LINE" || status=$?
    mkdir -p "$OUT_DIR"
    cp "$staging"/results.json "$staging"/table.md "$staging"/plot.png "$OUT_DIR"/ 2>/dev/null ||
        log_warn "the suite wrote no complete results into $staging"
    log_info "results are in $OUT_DIR"
    return "$status"
}

# Rewrites the results section of docs/benchmarks.md after a full run into the repository.
update_docs() {
    local docs=$REPO_DIR/docs/benchmarks.md
    if [[ $MODE != full || $OUT_DIR != "$REPO_DIR"/* || ! -f $OUT_DIR/results.json ]]; then
        return 0
    fi
    local link
    link=$(realpath --relative-to="$REPO_DIR/docs" "$OUT_DIR/plot.png")
    python3 "$REPO_DIR/bench/report.py" --results "$OUT_DIR/results.json" --docs "$docs" \
        --plot-link "$link" && log_info "updated $docs"
}

main() {
    COMMAND_LINE="sudo bash bench/run.sh${*:+ $*}"
    parse_arguments "$@"
    require_root "bench/run.sh"
    run_exclusively "$REPO_DIR/bench/run.sh" "$@"

    # die() exits from inside the helpers too; the EXIT trap stops what this script started.
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    local status=0
    if ((INSTALL_DEPS)); then
        deps_install || exit 1
    fi
    testuser_setup || exit 1
    prepare_test_host || exit 1
    prepare_build || die "the build failed; see the compiler output above"
    start_bench_server || exit 1

    log_info "running the $MODE suite as $TESTUSER_NAME"
    run_suite || status=$?
    cleanup
    update_docs || status=1
    exit "$status"
}

main "$@"
