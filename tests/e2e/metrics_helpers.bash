# shellcheck shell=bash
# Helpers of the metrics suites (metrics.bats, prometheus.bats), loaded after helpers.bash.
#
# start_held_gateway runs a shell script through `sockgate run` with a free metrics port, then
# keeps the gateway running after the script ended, until release_gateway. So a test can scrape
# /metrics and query `sockgate status` when every connection of the script is closed.

# Prints a TCP port of 127.0.0.1 that was free a moment ago.
free_local_port() {
    python3 -c 'import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])'
}

# Waits up to `seconds` (default 60) for a file to exist.
wait_for_file() {
    local file=$1 seconds=${2:-60}
    for _ in $(seq $((seconds * 10))); do
        [[ -e $file ]] && return 0
        sleep 0.1
    done
    echo "$file did not appear within $seconds s" >&2
    return 1
}

# Starts `sockgate run --rules RULES --metrics 127.0.0.1:0 -- sh -c SCRIPT` in the background,
# with debug logging to $BATS_TEST_TMPDIR/sockgate.log. After SCRIPT, the command creates
# $SCRIPT_DONE and waits for $GATEWAY_RELEASE. Sets GATEWAY_PID, and METRICS_ADDRESS (IPV4:PORT)
# and METRICS_URL once the exporter listens. SCRIPT runs in $BATS_TEST_TMPDIR.
start_held_gateway() {
    local rules=$1 script=$2
    SCRIPT_DONE=$BATS_TEST_TMPDIR/script.done
    GATEWAY_RELEASE=$BATS_TEST_TMPDIR/gateway.release
    GATEWAY_LOG=$BATS_TEST_TMPDIR/sockgate.log
    rm -f "$SCRIPT_DONE" "$GATEWAY_RELEASE"

    # The held command keeps no descriptor of bats (3>&-), or bats would wait for it.
    (cd "$BATS_TEST_TMPDIR" && exec "$SOCKGATE" run --log-level debug --rules "$rules" \
        --metrics 127.0.0.1:0 -- sh -c "$script
touch '$SCRIPT_DONE'
while [ ! -e '$GATEWAY_RELEASE' ]; do sleep 0.1; done") \
        >"$BATS_TEST_TMPDIR/command.out" 2>"$GATEWAY_LOG" 3>&- &
    GATEWAY_PID=$!

    local port=
    for _ in $(seq 100); do
        port=$(sed -nE 's|.*serving metrics at http://127\.0\.0\.1:([0-9]+)/metrics.*|\1|p' \
            "$GATEWAY_LOG" | head -1)
        [[ -n $port ]] && break
        sleep 0.1
    done
    if [[ -z $port ]]; then
        echo "the gateway did not log its metrics address within 10 s; its log follows:" >&2
        cat "$GATEWAY_LOG" >&2
        return 1
    fi
    METRICS_ADDRESS=127.0.0.1:$port
    METRICS_URL=http://$METRICS_ADDRESS/metrics
}

# Waits for the script of start_held_gateway to end. Fails, with the gateway's log, if the
# gateway exited first.
wait_for_script() {
    local seconds=${1:-60}
    for _ in $(seq $((seconds * 10))); do
        [[ -e $SCRIPT_DONE ]] && return 0
        if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
            echo "sockgate run exited before its script ended; its log follows:" >&2
            cat "$GATEWAY_LOG" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "the script did not end within $seconds s" >&2
    return 1
}

# Lets the command of start_held_gateway exit, and waits for sockgate run; stops it if it is
# still running after 10 s. Safe to call when no gateway was started.
release_gateway() {
    [[ -n ${GATEWAY_PID:-} ]] || return 0
    touch "$GATEWAY_RELEASE"
    if ! wait_with_timeout "$GATEWAY_PID"; then
        stop_background "$GATEWAY_PID"
    fi
    GATEWAY_PID=
}

# Stores the text of /metrics in the file `output`.
scrape_metrics() {
    local output=$1
    curl -fsS --max-time 10 -o "$output" "$METRICS_URL"
}

# Scrapes /metrics into the file `output` until the rule has no open TCP socket, for up to 5 s:
# a closed socket stays open in the kernel until its peer acknowledged the close.
scrape_when_closed() {
    local output=$1 rule=$2
    local open=
    for _ in $(seq 50); do
        scrape_metrics "$output"
        open=$(series_value "$output" "sockgate_rule_open_sockets{rule=\"$rule\"}")
        [[ $open == 0 ]] && return 0
        sleep 0.1
    done
    echo "rule $rule still has '${open:-no}' open sockets 5 s after its command closed them" >&2
    return 1
}

# Prints the value of one series, given as written in the exposition (NAME{LABELS}), from a
# scraped file; prints nothing when the series is absent.
series_value() {
    local file=$1 series=$2
    awk -v series="$series" '$1 == series { print $2; exit }' "$file"
}

# Like series_value, but fails, naming the series, when it is absent or not a whole number.
require_series() {
    local file=$1 series=$2
    local value
    value=$(series_value "$file" "$series")
    if [[ ! $value =~ ^[0-9]+$ ]]; then
        echo "$series in $file is '${value:-absent}', expected a whole number" >&2
        return 1
    fi
    echo "$value"
}

# Fails unless `actual` is within `percent` percent of `expected` (whole numbers).
assert_within_percent() {
    local what=$1 actual=$2 expected=$3 percent=$4
    local difference=$((actual - expected))
    ((difference < 0)) && difference=$((-difference))
    if ((difference * 100 > expected * percent)); then
        echo "$what is $actual, expected $expected within $percent%" \
            "(difference $difference)" >&2
        return 1
    fi
}

# Fails unless `low` <= `actual` <= `high`.
assert_between() {
    local what=$1 actual=$2 low=$3 high=$4
    if ((actual < low || actual > high)); then
        echo "$what is $actual, expected $low to $high" >&2
        return 1
    fi
}
