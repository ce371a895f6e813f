#!/usr/bin/env bats
# A real Prometheus server (Debian's prometheus) scrapes the gateway of `sockgate run` every
# second during an iperf3 transfer through a bypass rule. Queries through Prometheus' HTTP API
# return the rule's series and a positive throughput.

load helpers
load metrics_helpers

setup() {
    setup_e2e
    if ! command -v prometheus >/dev/null; then
        skip "prometheus is not installed; install the Debian package prometheus"
    fi
    HOST=$SOCKGATE_TEST_HOST_IPV4
}

teardown() {
    release_gateway
    if [[ -n ${PROMETHEUS_PID:-} ]]; then
        stop_background "$PROMETHEUS_PID"
        if kill -0 "$PROMETHEUS_PID" 2>/dev/null; then
            echo "Prometheus (pid $PROMETHEUS_PID) is still running after SIGKILL" >&2
            return 1
        fi
    fi
}

# Starts Prometheus on a free port of 127.0.0.1, with its storage in the test's folder, scraping
# only the gateway at METRICS_ADDRESS every second. Sets PROMETHEUS_PID and PROMETHEUS_URL, and
# waits until Prometheus is ready.
start_prometheus() {
    local dir=$BATS_TEST_TMPDIR/prometheus
    mkdir -p "$dir/data"
    cat >"$dir/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sockgate
    static_configs:
      - targets: ["$METRICS_ADDRESS"]
YAML

    local port
    port=$(free_local_port)
    PROMETHEUS_URL=http://127.0.0.1:$port
    prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" --log.level=warn \
        >"$dir/prometheus.log" 2>&1 3>&- &
    PROMETHEUS_PID=$!

    for _ in $(seq 300); do
        curl -fsS --max-time 1 -o /dev/null "$PROMETHEUS_URL/-/ready" 2>/dev/null && return 0
        if ! kill -0 "$PROMETHEUS_PID" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "Prometheus did not become ready within 30 s; its log follows:" >&2
    cat "$dir/prometheus.log" >&2
    return 1
}

# Runs an instant query through Prometheus' HTTP API and stores the JSON reply in `output`.
query_prometheus() {
    local query=$1 output=$2
    curl -fsS --max-time 10 -G --data-urlencode "query=$query" -o "$output" \
        "$PROMETHEUS_URL/api/v1/query"
}

# Waits up to `seconds` until a query returns at least one series whose value is the number
# `expected`. The reply stays in `output`.
wait_for_query_value() {
    local query=$1 expected=$2 seconds=$3 output=$4
    for _ in $(seq $((seconds * 2))); do
        query_prometheus "$query" "$output" &&
            [[ $(jq -r '.data.result[0].value[1]' "$output") == "$expected" ]] && return 0
        sleep 0.5
    done
    echo "'$query' did not return $expected within $seconds s; the last reply follows:" >&2
    cat "$output" >&2
    return 1
}

@test "prometheus scrapes rule series" {
    local rules=$BATS_TEST_TMPDIR/test.rules
    printf '%s\n' "rule iperf: bypass connect tcp to $HOST port $SOCKGATE_TEST_IPERF3_PORT" \
        "default pass" >"$rules"
    # The transfer starts when the test creates the file "go", after Prometheus is up.
    start_held_gateway "$rules" "while [ ! -e go ]; do sleep 0.1; done
iperf3 -c $HOST -p $SOCKGATE_TEST_IPERF3_PORT -t 5 -J >iperf3.json"
    start_prometheus
    local reply=$BATS_TEST_TMPDIR/reply.json
    wait_for_query_value 'up{job="sockgate"}' 1 30 "$reply"

    touch "$BATS_TEST_TMPDIR/go"
    wait_for_script 60
    assert_json "$BATS_TEST_TMPDIR/iperf3.json" .error null
    # The counters no longer change, so once Prometheus has scraped the final values, they equal
    # those of a scrape of the gateway.
    local metrics=$BATS_TEST_TMPDIR/metrics.txt sent received
    scrape_when_closed "$metrics" iperf
    sent=$(require_series "$metrics" 'sockgate_rule_bytes_total{rule="iperf",direction="sent"}')
    received=$(require_series "$metrics" \
        'sockgate_rule_bytes_total{rule="iperf",direction="received"}')
    wait_for_query_value 'sockgate_rule_bytes_total{rule="iperf",direction="sent"}' "$sent" 10 \
        "$reply"

    query_prometheus 'sockgate_rule_bytes_total{rule="iperf"}' "$reply"
    assert_json "$reply" .status success
    assert_json "$reply" '.data.result | length' 2
    assert_json "$reply" '.data.result[] | select(.metric.direction == "sent") | .value[1]' "$sent"
    assert_json "$reply" \
        '.data.result[] | select(.metric.direction == "received") | .value[1]' "$received"
    assert_json "$reply" '.data.result[0].metric.instance' "$METRICS_ADDRESS"

    query_prometheus 'sockgate_rule_matches_total{rule="iperf"}' "$reply"
    assert_json "$reply" '.data.result | length' 1
    assert_json "$reply" '.data.result[0].metric.action' bypass
    assert_json "$reply" '.data.result[0].metric.op' connect
    assert_json "$reply" '.data.result[0].value[1]' 2

    # The window covers the whole transfer, which began less than a minute ago.
    query_prometheus 'rate(sockgate_rule_bytes_total{rule="iperf",direction="sent"}[1m])' \
        "$reply"
    assert_json "$reply" '.data.result | length' 1
    local rate
    rate=$(jq -r '.data.result[0].value[1]' "$reply")
    if ! awk -v rate="$rate" 'BEGIN { exit !(rate > 0) }'; then
        echo "the rate of bytes sent under rule iperf is '$rate', expected a positive number" >&2
        return 1
    fi
}
