# shellcheck shell=bash
# Helpers shared by the root scripts: logging, the root check and the lock around a test run.
# Messages go to stderr so that stdout stays usable for data (JSON, tables).

log_info() {
    printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

log_warn() {
    printf '[%(%H:%M:%S)T] warning: %s\n' -1 "$*" >&2
}

log_error() {
    printf '[%(%H:%M:%S)T] error: %s\n' -1 "$*" >&2
}

# Prints an error and exits with status 1.
die() {
    log_error "$*"
    exit 1
}

require_root() {
    if [[ $EUID -ne 0 ]]; then
        die "$1 needs root to set up the test user and test hosts." \
            "Run it as root, with sudo for example."
    fi
}

# Standard search path for the root scripts, so they run Debian's programs (python3 with
# python3-matplotlib, for example) and not ones that a login shell put first.
# shellcheck disable=SC2034 # used by the scripts that source this file
readonly COMMON_SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# File locked while a script owns the test user's build tree and the test hosts. Two runs at
# once would tear down each other's test hosts.
readonly COMMON_LOCK_FILE=/run/sockgate-test.lock

# Re-executes the calling script under flock(1) unless it already runs under it. "--close"
# keeps the lock out of the servers that the script starts, so a server left running with
# --keep does not hold it. Call as: run_exclusively "$0" "$@".
run_exclusively() {
    [[ -n ${COMMON_LOCK_HELD:-} ]] && return 0
    export COMMON_LOCK_HELD=1
    local status=0
    flock --close --nonblock --conflict-exit-code 75 "$COMMON_LOCK_FILE" bash "$@" || status=$?
    if ((status == 75)); then
        log_info "another test run holds $COMMON_LOCK_FILE, so this one waits for it to finish"
        status=0
        flock --close "$COMMON_LOCK_FILE" bash "$@" || status=$?
    fi
    exit "$status"
}
