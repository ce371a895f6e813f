#!/usr/bin/env bats
# Per-rule metrics of `sockgate run --rules`, scraped from /metrics while the gateway still runs
# and every connection of its command is closed: byte counts against iperf3's own report, many
# short HTTP connections, `sockgate status`, and a deny rule.

load helpers
load metrics_helpers

setup() {
    setup_e2e
    HOST=$SOCKGATE_TEST_HOST_IPV4
    PAGE_URL="http://$HOST:$SOCKGATE_TEST_HTTP_PORT$SOCKGATE_TEST_HTTP_PATH"
}

teardown() {
    release_gateway
}

# Writes a rule file into the test's folder and prints its path.
rule_file() {
    local text=$1
    printf '%s\n' "$text" >"$BATS_TEST_TMPDIR/test.rules"
    echo "$BATS_TEST_TMPDIR/test.rules"
}

# Runs a 10 s iperf3 test (extra iperf3 options as arguments) through the bypass rule "iperf",
# then scrapes /metrics into $BATS_TEST_TMPDIR/metrics.txt while the gateway still runs.
run_iperf3_and_scrape() {
    local rules
    rules=$(rule_file "rule iperf: bypass connect tcp to $HOST port $SOCKGATE_TEST_IPERF3_PORT
default pass")
    start_held_gateway "$rules" \
        "iperf3 -c $HOST -p $SOCKGATE_TEST_IPERF3_PORT -t 10 -J $* >iperf3.json"
    wait_for_script 60
    scrape_when_closed "$BATS_TEST_TMPDIR/metrics.txt" iperf
    assert_json "$BATS_TEST_TMPDIR/iperf3.json" .error null
}

# Runs curl `count` times for a URL, one connection each, and writes one line per request:
# request bytes, response header bytes, response body bytes.
curl_loop_script() {
    local count=$1 url=$2
    # shellcheck disable=SC2028 # the \n is for curl's -w, so it must stay as written
    echo "for i in \$(seq $count); do
  curl -sS --max-time 10 -o /dev/null -w '%{size_request} %{size_header} %{size_download}\n' \
    '$url' || exit 1
done >sizes.txt"
}

# Prints a byte count as `sockgate status` does: "N B" below 1 KiB, else KiB with one decimal.
human_bytes() {
    local bytes=$1
    if ((bytes < 1024)); then
        echo "$bytes B"
    else
        LC_ALL=C awk -v bytes="$bytes" 'BEGIN { printf "%.1f KiB\n", bytes / 1024 }'
    fi
}

@test "metrics iperf3 sent bytes match" {
    run_iperf3_and_scrape

    local metrics=$BATS_TEST_TMPDIR/metrics.txt sent_by_iperf3 sent
    sent_by_iperf3=$(jq -r .end.sum_sent.bytes "$BATS_TEST_TMPDIR/iperf3.json")
    sent=$(require_series "$metrics" 'sockgate_rule_bytes_total{rule="iperf",direction="sent"}')

    assert_within_percent "bytes sent under rule iperf" "$sent" "$sent_by_iperf3" 1
    # iperf3 opens a control connection and one data connection.
    assert_equal "matches of rule iperf" \
        "$(series_value "$metrics" \
            'sockgate_rule_matches_total{rule="iperf",action="bypass",op="connect"}')" 2
    assert_equal "destroy overruns" \
        "$(series_value "$metrics" 'sockgate_errors_total{kind="sock_diag_overrun"}')" 0
}

@test "metrics iperf3 reverse received bytes match" {
    run_iperf3_and_scrape -R

    local metrics=$BATS_TEST_TMPDIR/metrics.txt received_by_iperf3 received
    received_by_iperf3=$(jq -r .end.sum_received.bytes "$BATS_TEST_TMPDIR/iperf3.json")
    received=$(require_series "$metrics" \
        'sockgate_rule_bytes_total{rule="iperf",direction="received"}')

    assert_within_percent "bytes received under rule iperf" "$received" "$received_by_iperf3" 1
    assert_equal "matches of rule iperf" \
        "$(series_value "$metrics" \
            'sockgate_rule_matches_total{rule="iperf",action="bypass",op="connect"}')" 2
}

@test "metrics short connections all counted" {
    local rules count=300
    rules=$(rule_file "rule web: bypass connect tcp to $HOST port $SOCKGATE_TEST_HTTP_PORT
default pass")
    start_held_gateway "$rules" "$(curl_loop_script "$count" "$PAGE_URL")"

    # Scrape while the connections come and go: the counters never decrease.
    local previous_matches=0 previous_sent=0 scrapes=0 matches sent
    local scraped=$BATS_TEST_TMPDIR/during.txt
    while [[ ! -e $SCRIPT_DONE ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; do
        scrape_metrics "$scraped"
        matches=$(require_series "$scraped" \
            'sockgate_rule_matches_total{rule="web",action="bypass",op="connect"}')
        sent=$(require_series "$scraped" 'sockgate_rule_bytes_total{rule="web",direction="sent"}')
        assert_between "matches after $scrapes scrapes" "$matches" "$previous_matches" "$count"
        assert_between "bytes sent after $scrapes scrapes" "$sent" "$previous_sent" 1000000
        previous_matches=$matches previous_sent=$sent scrapes=$((scrapes + 1))
        sleep 0.2
    done
    wait_for_script 60
    assert_between "scrapes during the requests" "$scrapes" 2 100000

    local metrics=$BATS_TEST_TMPDIR/metrics.txt
    scrape_when_closed "$metrics" web
    local requests request_bytes response_bytes received
    requests=$(wc -l <"$BATS_TEST_TMPDIR/sizes.txt")
    request_bytes=$(awk '{ sum += $1 } END { print sum }' "$BATS_TEST_TMPDIR/sizes.txt")
    response_bytes=$(awk '{ sum += $2 + $3 } END { print sum }' "$BATS_TEST_TMPDIR/sizes.txt")
    sent=$(require_series "$metrics" 'sockgate_rule_bytes_total{rule="web",direction="sent"}')
    received=$(require_series "$metrics" \
        'sockgate_rule_bytes_total{rule="web",direction="received"}')

    assert_equal "requests made" "$requests" "$count"
    assert_equal "matches of rule web" \
        "$(series_value "$metrics" \
            'sockgate_rule_matches_total{rule="web",action="bypass",op="connect"}')" "$count"
    assert_equal "bytes sent under rule web" "$sent" "$request_bytes"
    # The kernel counts nginx's FIN as a received byte when it reached a socket that was still
    # open to receive it, so each connection may add one byte to its response.
    assert_between "bytes received under rule web" "$received" "$response_bytes" \
        "$((response_bytes + count))"
    assert_equal "destroy overruns" \
        "$(series_value "$metrics" 'sockgate_errors_total{kind="sock_diag_overrun"}')" 0
}

@test "metrics status shows rule hits and bytes" {
    if [[ -z ${XDG_RUNTIME_DIR:-} ]]; then
        skip "XDG_RUNTIME_DIR is not set, so sockgate run makes no control socket"
    fi
    local rules
    rules=$(rule_file "rule web: bypass connect tcp to $HOST port $SOCKGATE_TEST_HTTP_PORT
default pass")
    start_held_gateway "$rules" "$(curl_loop_script 5 "$PAGE_URL")"
    wait_for_script 60
    local metrics=$BATS_TEST_TMPDIR/metrics.txt
    scrape_when_closed "$metrics" web

    run "$SOCKGATE" status --pid "$GATEWAY_PID" --json
    assert_equal "status --json exit status" "$status" 0
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/status.json"
    run "$SOCKGATE" status --pid "$GATEWAY_PID"
    assert_equal "status exit status" "$status" 0
    local text=$output

    local status_json=$BATS_TEST_TMPDIR/status.json web='.rules[] | select(.name == "web")'
    assert_json "$status_json" "$web | .connect_matches" 5
    assert_json "$status_json" "$web | .bind_matches" 0
    assert_json "$status_json" "$web | .open_sockets" 0
    assert_json "$status_json" "$web | .bytes_sent" \
        "$(series_value "$metrics" 'sockgate_rule_bytes_total{rule="web",direction="sent"}')"
    assert_json "$status_json" "$web | .bytes_received" \
        "$(series_value "$metrics" 'sockgate_rule_bytes_total{rule="web",direction="received"}')"
    assert_json "$status_json" '.decisions.bypass' 5

    local sent received
    sent=$(jq -r "$web | .bytes_sent" "$status_json")
    received=$(jq -r "$web | .bytes_received" "$status_json")
    assert_matches "status text" "$text" \
        "rule web: bypass connect tcp to $HOST port $SOCKGATE_TEST_HTTP_PORT  # *test.rules:1*"
    assert_matches "status text" "$text" "*  [ connect: 5  bind: 0  sent: $(human_bytes "$sent")\
  received: $(human_bytes "$received")  open sockets: 0 ]*"
}

@test "metrics deny rule counts matches only" {
    local rules
    rules=$(rule_file "rule blocked: deny connect tcp to $HOST port $SOCKGATE_TEST_HTTP_PORT
default pass")
    start_held_gateway "$rules" "for i in 1 2 3; do
  curl -sS --max-time 10 -o /dev/null '$PAGE_URL' 2>/dev/null
  echo \$? >>curl.status
done"
    wait_for_script 60

    local metrics=$BATS_TEST_TMPDIR/metrics.txt
    scrape_metrics "$metrics"

    # curl exits with 7 when it cannot connect.
    assert_equal "curl exit statuses" "$(tr '\n' ' ' <"$BATS_TEST_TMPDIR/curl.status")" "7 7 7 "
    assert_equal "matches of rule blocked" \
        "$(series_value "$metrics" \
            'sockgate_rule_matches_total{rule="blocked",action="deny",op="connect"}')" 3
    assert_equal "deny decisions" \
        "$(series_value "$metrics" 'sockgate_decisions_total{action="deny"}')" 3
    assert_equal "byte and socket series of rule blocked" \
        "$(grep -c -E '^sockgate_rule_(bytes_total|open_sockets)\{rule="blocked"' "$metrics")" 0
    # The default action passes, so it has byte series.
    assert_equal "byte series of the default" \
        "$(grep -c -E '^sockgate_rule_bytes_total\{rule="default"' "$metrics")" 2
}
