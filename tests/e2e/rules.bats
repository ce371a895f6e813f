#!/usr/bin/env bats
# Rule files through `sockgate run --rules`: a denied connect fails with the rule's errno as curl
# reports it, a passed one goes through slirp4netns, a bypassed one through the host, label
# scopes pick the file that applies, and a publish rule exposes a port on the host.

load helpers

readonly PUBLISH_HOST_PORT=18081

setup() {
    setup_e2e
    URL="http://$SOCKGATE_TEST_HOST_IPV4:$SOCKGATE_TEST_HTTP_PORT$SOCKGATE_TEST_HTTP_PATH"
    LOG=$BATS_TEST_TMPDIR/sockgate.log
}

teardown() {
    if [[ -n ${SERVER_PID:-} ]]; then
        stop_background "$SERVER_PID"
    fi
}

# Writes a rule file into the test's folder and prints its path.
rule_file() {
    local name=$1 text=$2
    printf '%s\n' "$text" >"$BATS_TEST_TMPDIR/$name"
    echo "$BATS_TEST_TMPDIR/$name"
}

# Runs curl for $URL through `sockgate run` with the given flags; prints curl's exit code and,
# for a failed connect, its error text.
curl_through() {
    local status=0 output
    output=$("$SOCKGATE" run --log-level debug "$@" -- \
        curl -v -sS --max-time 10 -o /dev/null "$URL" 2>&1) || status=$?
    printf '%s\n' "$output" >"$LOG"
    local text
    text=$(sed -nE 's/^\* (Immediate connect fail for .*|connect to .* failed): ([^:]*)$/\2/p' \
        <<<"$output" | head -1)
    echo "$status${text:+ $text}"
}

@test "rules deny with named errno" {
    local rules
    rules=$(rule_file deny.rules "rule no-web: deny connect tcp to $SOCKGATE_TEST_HOST_IPV4 port 80 errno ECONNREFUSED")

    result=$(curl_through --rules "$rules")

    assert_equal "curl result" "$result" "7 Connection refused"
    assert_decisions "$LOG" deny "$SOCKGATE_TEST_HOST_IPV4" 80 1
}

@test "rules deny default errno EACCES" {
    local rules
    rules=$(rule_file deny.rules "deny connect tcp to $SOCKGATE_TEST_HOST_IPV4")

    result=$(curl_through --rules "$rules")

    assert_equal "curl result" "$result" "7 Permission denied"
}

@test "rules pass goes through slirp4netns" {
    local rules
    rules=$(rule_file pass.rules "rule via-slirp: pass connect tcp to $SOCKGATE_TEST_HOST_IPV4
default bypass")

    result=$(curl_through --rules "$rules")

    assert_equal "curl result" "$result" "0"
    assert_decisions "$LOG" pass "$SOCKGATE_TEST_HOST_IPV4" 80 1
    grep -q -F "(rule via-slirp)" "$LOG"
}

@test "rules bypass goes through the host" {
    local rules
    rules=$(rule_file bypass.rules "rule direct: bypass connect tcp to $SOCKGATE_TEST_HOST_IPV4/32 port 80
default pass")

    result=$(curl_through --rules "$rules")

    assert_equal "curl result" "$result" "0"
    assert_decisions "$LOG" bypass "$SOCKGATE_TEST_HOST_IPV4" 80 1
}

@test "rules label scopes pick the file" {
    local web db
    web=$(rule_file web.rules "scope if label app=web
rule web-deny: deny connect tcp to $SOCKGATE_TEST_HOST_IPV4 errno ENETUNREACH")
    db=$(rule_file db.rules "scope if label app=db
rule db-bypass: bypass connect tcp to $SOCKGATE_TEST_HOST_IPV4")

    web_result=$(curl_through --rules "$web" --rules "$db" --label app=web)
    assert_equal "curl result for app=web" "$web_result" "7 Network is unreachable"

    db_result=$(curl_through --rules "$web" --rules "$db" --label app=db)
    assert_equal "curl result for app=db" "$db_result" "0"
    grep -q -F "(rule db-bypass)" "$LOG"

    other_result=$(curl_through --rules "$web" --rules "$db" --label app=cache)
    assert_equal "curl result for app=cache" "$other_result" "0"
    assert_decisions "$LOG" pass "$SOCKGATE_TEST_HOST_IPV4" 80 1
}

@test "rules publish exposes the port" {
    local rules
    rules=$(rule_file publish.rules "rule web-in: bypass bind tcp port 8080 publish 127.0.0.1:$PUBLISH_HOST_PORT")
    mkdir "$BATS_TEST_TMPDIR/www"
    echo "published by a rule" >"$BATS_TEST_TMPDIR/www/page.txt"

    "$SOCKGATE" run --rules "$rules" -- \
        python3 -m http.server --bind 0.0.0.0 --directory "$BATS_TEST_TMPDIR/www" 8080 \
        >"$BATS_TEST_TMPDIR/server.log" 2>&1 3>&- &
    SERVER_PID=$!
    wait_for_url "http://127.0.0.1:$PUBLISH_HOST_PORT/page.txt" || {
        cat "$BATS_TEST_TMPDIR/server.log" >&2
        return 1
    }

    run curl -fsS --max-time 5 "http://127.0.0.1:$PUBLISH_HOST_PORT/page.txt"

    assert_equal "exit status" "$status" 0
    assert_equal "body" "$output" "published by a rule"
}

@test "rules invalid file fails at start" {
    local rules
    rules=$(rule_file broken.rules "rule x: bypass connect tcp to 10.0.0.0/33")

    run "$SOCKGATE" run --rules "$rules" -- true

    assert_equal "exit status" "$status" 125
    assert_matches "message" "$output" "*broken.rules:1:*: error: *"
}
