# shellcheck shell=bash
# Shared setup and assertions for the end-to-end suites, loaded with `load helpers`.
#
# The suites run real Debian programs through `sockgate run` as an unprivileged user, against
# the test hosts that tests/lib/testhosts.sh sets up (as root) before CTest runs. They need:
#   SOCKGATE           path of the sockgate binary (CTest sets it)
#   SOCKGATE_TEST_ENV  the test host env file (default /run/sockgate-test/env)

# Addresses of the container's slirp4netns interface. slirp4netns --configure sets the IPv4
# address; the IPv6 address comes from its router advertisement (SLAAC), so only the /64 prefix
# is known in advance.
# shellcheck disable=SC2034 # used by the suites that load this file
readonly CONTAINER_IPV4=10.0.2.100
# shellcheck disable=SC2034
readonly CONTAINER_IPV6_PATTERN='fd00::*'

# Skips the test unless the binary and the test hosts are there, then loads the test host
# addresses into the environment.
setup_e2e() {
    if [[ -z ${SOCKGATE:-} || ! -x $SOCKGATE ]]; then
        skip "SOCKGATE is not set to an executable sockgate binary (got '${SOCKGATE:-}')"
    fi
    local env_file=${SOCKGATE_TEST_ENV:-/run/sockgate-test/env}
    if [[ ! -r $env_file ]]; then
        skip "test host env file $env_file not found; set up the test hosts with tests/run.sh"
    fi
    set -a
    # shellcheck source=/dev/null
    source "$env_file"
    set +a
}

# Skips the test when slirp4netns under `sockgate run --no-filter` gives the container no global
# IPv6 address within 3 s, which means that it runs without --enable-ipv6. Its IPv6 address
# comes from a router advertisement, so a test that fails although the address shows up here
# points at a command that starts before the address is usable.
skip_unless_fallback_ipv6() {
    local addresses
    addresses=$("$SOCKGATE" run --no-filter -- \
        sh -c 'sleep 3; ip -6 -o addr show scope global' 2>/dev/null) || true
    if [[ -z $addresses ]]; then
        local reason="sockgate run --no-filter gives the container no IPv6 address"
        skip "$reason (slirp4netns without --enable-ipv6)"
    fi
}

# Prints the IPv6 address in brackets and an IPv4 address as it is, as URLs and logs write them.
url_host() {
    if [[ $1 == *:* ]]; then
        echo "[$1]"
    else
        echo "$1"
    fi
}

# Prints the number of decision lines in a sockgate debug log for one action and destination.
# A decision line reads "... connect tcp 198.18.0.2:80 -> bypass (rule NAME)", with an IPv6
# address in brackets.
count_decisions() {
    local log=$1 action=$2 address=$3 port=$4
    local destination
    destination=$(url_host "$address"):$port
    grep -c -F -- " $destination -> $action" "$log" || true
}

# Fails unless the log has exactly the expected number of decisions for the destination.
assert_decisions() {
    local log=$1 action=$2 address=$3 port=$4 expected=$5
    local actual
    actual=$(count_decisions "$log" "$action" "$address" "$port")
    if [[ $actual != "$expected" ]]; then
        echo "expected $expected '$action' decisions for $(url_host "$address"):$port," \
            "found $actual; the sockgate log follows:" >&2
        cat "$log" >&2
        return 1
    fi
}

# Fails unless a jq filter applied to a JSON file gives the expected value.
assert_json() {
    local file=$1 filter=$2 expected=$3
    local actual
    actual=$(jq -r "$filter" "$file")
    if [[ $actual != "$expected" ]]; then
        echo "$filter in $file is '$actual', expected '$expected'" >&2
        return 1
    fi
}

# Fails unless a value matches a shell glob pattern, naming what was compared.
assert_matches() {
    local what=$1 actual=$2 pattern=$3
    # shellcheck disable=SC2053 # the right side is a glob pattern on purpose
    if [[ $actual != $pattern ]]; then
        echo "$what is '$actual', expected a match of '$pattern'" >&2
        return 1
    fi
}

# Fails unless two values are equal, naming what was compared.
assert_equal() {
    local what=$1 actual=$2 expected=$3
    if [[ $actual != "$expected" ]]; then
        echo "$what is '$actual', expected '$expected'" >&2
        return 1
    fi
}

# Waits up to 10 s until a GET of the URL from the host succeeds (HTTP status below 400).
wait_for_url() {
    local url=$1
    for _ in $(seq 100); do
        curl -fsS --max-time 1 -g -o /dev/null "$url" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$url did not respond within 10 s" >&2
    return 1
}

# Waits up to 10 s for a background process to exit and stores its exit status in
# WAITED_STATUS. Fails when it is still running then.
wait_with_timeout() {
    local pid=$1
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            # shellcheck disable=SC2034 # read by the caller
            WAITED_STATUS=0
            wait "$pid" || WAITED_STATUS=$?
            return 0
        fi
        sleep 0.1
    done
    echo "process $pid is still running after 10 s" >&2
    return 1
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
