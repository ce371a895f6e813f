#!/usr/bin/env bash
# Runs every sockgate test on this machine. It installs the Debian packages, creates the test
# user and the test hosts, and builds as the test user. Then it runs CTest's unit, kernel and e2e
# labels and the fuzz smoke run, and removes the test hosts. It prints the time of each stage and
# a summary, and exits non-zero when any stage failed. The setup needs root, but the tests run
# as the unprivileged test user.
set -uo pipefail

usage() {
    cat <<'USAGE'
usage: sudo bash tests/run.sh [--only LABEL_REGEX] [--keep] [--no-deps] [--clean]

  --only REGEX   run only the stages whose label matches REGEX (labels: unit, kernel, e2e,
                 fuzz); for example --only 'unit|e2e'
  --keep         leave the test hosts and their servers running afterwards
  --no-deps      do not check or install the Debian packages
  --clean        build from scratch instead of reusing the test user's build directory

Environment: SOCKGATE_WORK_DIR (default /home/sgtest/sockgate) is where the source tree is
copied and built; SOCKGATE_BUILD_JOBS (default 2) is the number of parallel compile jobs;
SOCKGATE_FUZZ_SECONDS (default 60) is the length of the fuzz smoke run.
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

ONLY_REGEX='unit|kernel|e2e|fuzz'
KEEP=0
INSTALL_DEPS=1
CLEAN_BUILD=0
FUZZ_SECONDS=${SOCKGATE_FUZZ_SECONDS:-60}

parse_arguments() {
    while (($# > 0)); do
        case $1 in
        --only)
            [[ $# -ge 2 ]] || die "--only needs a label regex, for example --only 'unit|e2e'"
            ONLY_REGEX=$2
            shift
            ;;
        --keep) KEEP=1 ;;
        --no-deps) INSTALL_DEPS=0 ;;
        --clean) CLEAN_BUILD=1 ;;
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

STAGE_NAMES=()
STAGE_RESULTS=()
STAGE_SECONDS=()

# Runs one stage, logs its start and duration, and records the result for the summary.
run_stage() {
    local name=$1 start=$SECONDS status=0
    shift
    log_info "=== $name"
    "$@" || status=$?
    local seconds=$((SECONDS - start))
    STAGE_NAMES+=("$name")
    STAGE_SECONDS+=("$seconds")
    if ((status == 0)); then
        STAGE_RESULTS+=(ok)
        log_info "=== $name: ok (${seconds} s)"
    else
        STAGE_RESULTS+=("failed ($status)")
        log_error "=== $name: failed with status $status (${seconds} s)"
    fi
    return "$status"
}

label_selected() {
    [[ $1 =~ ^($ONLY_REGEX)$ ]]
}

print_machine_info() {
    log_info "kernel $(uname -r), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB memory"
    log_info "seccomp actions: $(cat /proc/sys/kernel/seccomp/actions_avail 2>/dev/null)"
    log_info "$(cmake --version | head -1), $(g++ --version | head -1), $(bats --version)"
}

setup_test_user() {
    testuser_setup
    log_info "test user $TESTUSER_NAME (uid $(id -u "$TESTUSER_NAME")) is ready"
}

copy_and_configure() {
    ((CLEAN_BUILD)) && build_clean
    build_copy_source "$REPO_DIR" && build_configure
}

# Runs CTest for one label as the test user. Unit tests run two at a time, but kernel and e2e
# tests run one at a time because they measure time and bind fixed ports.
run_ctest_label() {
    local label=$1 jobs=1
    [[ $label == unit ]] && jobs=$BUILD_JOBS
    local junit=$BUILD_WORK_DIR/junit-$label.xml
    testuser_run rm -f "$junit"
    testuser_run SOCKGATE_TEST_ENV="$TESTHOSTS_ENV_FILE" \
        ctest --test-dir "$BUILD_BINARY_DIR" --label-regex "^$label\$" --output-on-failure \
        --timeout 900 --parallel "$jobs" --output-junit "$junit"
}

# Runs the fuzz smoke run as the test user. Its clang build lives beside the main build, outside
# the source copy that each run replaces, so that it is reused between runs.
run_fuzz_smoke() {
    testuser_run SOCKGATE_FUZZ_BUILD_DIR="$BUILD_WORK_DIR/build-fuzz" \
        bash "$BUILD_SOURCE_DIR/tests/fuzz/run.sh" "$FUZZ_SECONDS"
}

# Prints "PASSED FAILED SKIPPED" counted over CTest's JUnit files.
count_ctest_results() {
    python3 - "$@" <<'PYTHON'
import sys
import xml.etree.ElementTree as ElementTree

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        continue
    for case in root.iter("testcase"):
        status = case.get("status", "")
        if status == "fail" or case.find("failure") is not None:
            failed += 1
        elif status in ("notrun", "disabled") or case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
print(passed, failed, skipped)
PYTHON
}

print_summary() {
    local i passed failed skipped
    printf '\n%-24s %-14s %8s\n' stage result seconds
    for i in "${!STAGE_NAMES[@]}"; do
        printf '%-24s %-14s %8s\n' "${STAGE_NAMES[$i]}" "${STAGE_RESULTS[$i]}" \
            "${STAGE_SECONDS[$i]}"
    done
    printf '%-24s %-14s %8s\n\n' total "" "$SECONDS"

    read -r passed failed skipped < <(count_ctest_results "$BUILD_WORK_DIR"/junit-*.xml)
    local result
    for result in "${FUZZ_RESULT:-}" "${BENCH_RESULT:-}"; do
        if [[ $result == ok ]]; then
            passed=$((passed + 1))
        elif [[ -n $result ]]; then
            failed=$((failed + 1))
        fi
    done
    echo "tests: $passed passed, $failed failed, $skipped skipped"
}

teardown() {
    if ((KEEP)); then
        log_info "--keep: the test hosts stay up, with their addresses in $TESTHOSTS_ENV_FILE"
        return 0
    fi
    testhosts_teardown
}

# Runs the setup stages, then each selected test stage. A failed setup stage stops the run.
run_all_stages() {
    ((INSTALL_DEPS)) && { run_stage deps deps_install || return 1; }
    run_stage test-user setup_test_user || return 1
    run_stage test-hosts testhosts_setup || return 1
    run_stage configure copy_and_configure || return 1
    run_stage build build_targets || return 1

    local label failed=0
    for label in unit kernel e2e; do
        label_selected "$label" || continue
        run_stage "ctest $label" run_ctest_label "$label" || failed=1
    done

    # The benchmark suite's smoke run: one tiny run per cell through the build above, to prove
    # that the suite works. It asserts no time.
    if label_selected e2e; then
        BENCH_RESULT=ok
        run_stage "bench smoke" bash "$REPO_DIR/bench/run.sh" --smoke --no-deps \
            --build-dir "$BUILD_BINARY_DIR" || { BENCH_RESULT=failed failed=1; }
    fi

    if label_selected fuzz && [[ -f $REPO_DIR/tests/fuzz/run.sh ]]; then
        FUZZ_RESULT=ok
        run_stage "fuzz ${FUZZ_SECONDS} s" run_fuzz_smoke || { FUZZ_RESULT=failed failed=1; }
    fi
    return "$failed"
}

main() {
    parse_arguments "$@"
    require_root "tests/run.sh"
    run_exclusively "$REPO_DIR/tests/run.sh" "$@"

    [[ ${CI:-} == true ]] && print_machine_info
    rm -f "$BUILD_WORK_DIR"/junit-*.xml
    trap 'teardown; exit 130' INT TERM

    local status=0
    run_all_stages || status=1
    run_stage teardown teardown || status=1

    print_summary
    exit "$status"
}

main "$@"
