#!/usr/bin/env bats
# Failed connections through `sockgate run` fail as they fail on the host: a refused port and
# an unreachable prefix give curl the same exit code and error number text. A blocking connect
# to a black-holed prefix does not delay other connections of the same command.

load helpers

setup() {
    setup_e2e
}

# Prints curl's exit code and the error number text of its failed connect, such as
# "7 Connection refused". curl -v reports the text as "connect to ADDRESS port PORT failed:
# TEXT" after an asynchronous failure and "Immediate connect fail for ADDRESS: TEXT" when
# connect() itself failed.
curl_failure() {
    local status=0 output
    output=$("$@" curl -v -sS -g --max-time 10 -o /dev/null "$URL" 2>&1) || status=$?
    local text
    text=$(sed -nE 's/^\* (Immediate connect fail for .*|connect to .* failed): ([^:]*)$/\2/p' \
        <<<"$output" | head -1)
    echo "$status $text"
}

# Compares the failure on the host with the failure through `sockgate run`.
check_same_failure() {
    URL=$1
    local expected=$2
    local on_host through_sockgate
    on_host=$(curl_failure)
    through_sockgate=$(curl_failure "$SOCKGATE" run --)

    assert_equal "failure on the host" "$on_host" "$expected"
    assert_equal "failure through sockgate" "$through_sockgate" "$on_host"
}

@test "refused port ipv4 like host" {
    check_same_failure \
        "http://$SOCKGATE_TEST_HOST_IPV4:$SOCKGATE_TEST_REFUSED_PORT/" "7 Connection refused"
}

@test "refused port ipv6 like host" {
    check_same_failure \
        "http://[$SOCKGATE_TEST_HOST_IPV6]:$SOCKGATE_TEST_REFUSED_PORT/" "7 Connection refused"
}

@test "unreachable prefix ipv4 like host" {
    check_same_failure "http://$SOCKGATE_TEST_UNREACHABLE_IPV4/" "7 No route to host"
}

@test "unreachable prefix ipv6 like host" {
    check_same_failure "http://[$SOCKGATE_TEST_UNREACHABLE_IPV6]/" "7 No route to host"
}

@test "blackhole connect does not delay others" {
    # A blocking connect() to the black-holed prefix waits for SYN retries (minutes), so
    # timeout(1) ends it after 6 s. Meanwhile a second connection fetches a page.
    local script='
        timeout 6 python3 -c "import socket, sys; socket.create_connection((sys.argv[1], 80))" \
            "$1" &
        blocked=$!
        sleep 0.5
        start=$(date +%s%N)
        curl -fsS --max-time 10 "$2"
        end=$(date +%s%N)
        echo "elapsed_ms=$(((end - start) / 1000000))"
        wait "$blocked"
        echo "blocked_status=$?"'
    local url="http://$SOCKGATE_TEST_HOST_IPV4:$SOCKGATE_TEST_HTTP_PORT$SOCKGATE_TEST_HTTP_PATH"

    run "$SOCKGATE" run -- bash -c "$script" blackhole "$SOCKGATE_TEST_BLACKHOLE_IPV4" "$url"

    assert_equal "exit status" "$status" 0
    assert_equal "number of output lines" "${#lines[@]}" 3
    assert_equal "body" "${lines[0]}" "$SOCKGATE_TEST_HTTP_BODY"
    # 124 is timeout(1)'s status when it had to stop the command: the connect was still blocked.
    assert_equal "status of the blocked connect" "${lines[2]}" "blocked_status=124"
    local elapsed_ms=${lines[1]#elapsed_ms=}
    if ((elapsed_ms >= 1000)); then
        echo "the second connection took $elapsed_ms ms, expected under 1000 ms" >&2
        return 1
    fi
}
