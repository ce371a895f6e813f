# shellcheck shell=bash
# Test hosts: a network namespace joined to the host by a veth pair, with the servers that the
# end-to-end tests, the benchmarks and the demo talk to. Traffic from the tests goes only here
# and to loopback. Every address is in 198.18.0.0/15 (RFC 2544 benchmarking) or 2001:db8::/32
# (RFC 3849 documentation), so nothing can leave the machine.
#
# Source this file (after common.sh) as root, then call testhosts_setup and testhosts_teardown.
# testhosts_setup writes the addresses and ports to $TESTHOSTS_ENV_FILE, which tests source.

TESTHOSTS_STATE_DIR=${TESTHOSTS_STATE_DIR:-/run/sockgate-test}
TESTHOSTS_ENV_FILE=$TESTHOSTS_STATE_DIR/env
TESTHOSTS_NETNS=sgtest-host1
TESTHOSTS_HOST_LINK=sgtest-veth1

readonly TESTHOSTS_GATEWAY_IPV4=198.18.0.1
readonly TESTHOSTS_GATEWAY_IPV6=2001:db8:1::1
readonly TESTHOSTS_HOST_IPV4=198.18.0.2
readonly TESTHOSTS_HOST_IPV6=2001:db8:1::2
# Routed to the test host, which does not forward: SYNs vanish without a reply.
readonly TESTHOSTS_BLACKHOLE_PREFIX4=198.18.1.0/24
readonly TESTHOSTS_BLACKHOLE_PREFIX6=2001:db8:2::/64
# Routed nowhere: connect() fails at once with EHOSTUNREACH.
readonly TESTHOSTS_UNREACHABLE_PREFIX4=198.18.2.0/24
readonly TESTHOSTS_UNREACHABLE_PREFIX6=2001:db8:3::/64

readonly TESTHOSTS_IPERF3_PORT=5201
readonly TESTHOSTS_HTTP_PORT=80
readonly TESTHOSTS_ECHO_PORT=7
# Nothing listens here, so connect() gets a RST (ECONNREFUSED).
readonly TESTHOSTS_REFUSED_PORT=9

readonly TESTHOSTS_HTTP_BODY="hello from the sockgate test host"
# Size of /blob.bin on the HTTP server, in bytes.
readonly TESTHOSTS_BLOB_SIZE=4194304

TESTHOSTS_LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

testhosts_in_netns() {
    ip netns exec "$TESTHOSTS_NETNS" "$@"
}

# Creates the namespace, the veth pair, the addresses and the routes to the black-holed and
# unreachable prefixes. "nodad" makes the IPv6 addresses usable at once.
testhosts_create_network() {
    ip netns add "$TESTHOSTS_NETNS"
    ip link add "$TESTHOSTS_HOST_LINK" type veth peer name eth0 netns "$TESTHOSTS_NETNS"

    ip addr add "$TESTHOSTS_GATEWAY_IPV4/24" dev "$TESTHOSTS_HOST_LINK"
    ip addr add "$TESTHOSTS_GATEWAY_IPV6/64" dev "$TESTHOSTS_HOST_LINK" nodad
    ip link set "$TESTHOSTS_HOST_LINK" up

    testhosts_in_netns ip link set lo up
    testhosts_in_netns ip addr add "$TESTHOSTS_HOST_IPV4/24" dev eth0
    testhosts_in_netns ip addr add "$TESTHOSTS_HOST_IPV6/64" dev eth0 nodad
    testhosts_in_netns ip link set eth0 up

    # With default routes but forwarding off, the test host drops packets for other addresses
    # without an ICMP error. Without a route, IPv6 would reply with an ICMPv6 "no route" error.
    testhosts_in_netns ip route add default via "$TESTHOSTS_GATEWAY_IPV4"
    testhosts_in_netns ip -6 route add default via "$TESTHOSTS_GATEWAY_IPV6"
    testhosts_in_netns sysctl -q -w net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0

    ip route add "$TESTHOSTS_BLACKHOLE_PREFIX4" via "$TESTHOSTS_HOST_IPV4"
    ip -6 route add "$TESTHOSTS_BLACKHOLE_PREFIX6" via "$TESTHOSTS_HOST_IPV6"
    ip route add unreachable "$TESTHOSTS_UNREACHABLE_PREFIX4"
    ip -6 route add unreachable "$TESTHOSTS_UNREACHABLE_PREFIX6"
}

# Writes the files that nginx serves: a short text page and a binary blob whose every byte is
# its offset modulo 251, so truncation and reordering both change its SHA-256.
testhosts_write_web_root() {
    local root=$TESTHOSTS_STATE_DIR/www
    install -d -m 0755 "$root"
    printf '%s\n' "$TESTHOSTS_HTTP_BODY" >"$root/hello.txt"
    python3 - "$root/blob.bin" "$TESTHOSTS_BLOB_SIZE" <<'PYTHON'
import sys
pattern = bytes(range(251))
size = int(sys.argv[2])
data = (pattern * (size // len(pattern) + 1))[:size]
with open(sys.argv[1], "wb") as blob:
    blob.write(data)
PYTHON
    chmod 0644 "$root/hello.txt" "$root/blob.bin"
}

testhosts_write_nginx_config() {
    local dir=$TESTHOSTS_STATE_DIR/nginx
    install -d -m 0755 "$dir"
    cat >"$dir/nginx.conf" <<NGINX
user www-data;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path $dir/client-body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen $TESTHOSTS_HOST_IPV4:$TESTHOSTS_HTTP_PORT;
        listen [$TESTHOSTS_HOST_IPV6]:$TESTHOSTS_HTTP_PORT;
        root $TESTHOSTS_STATE_DIR/www;
    }
}
NGINX
}

# Waits up to 10 s until a TCP port of the test host accepts connections from the host.
testhosts_wait_for_port() {
    local port=$1
    for _ in $(seq 100); do
        if timeout 1 bash -c "exec 3<>/dev/tcp/$TESTHOSTS_HOST_IPV4/$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "the test host's port $port did not accept connections within 10 s." \
        "See the server logs in $TESTHOSTS_STATE_DIR."
}

testhosts_start_services() {
    local state=$TESTHOSTS_STATE_DIR

    testhosts_in_netns iperf3 --server --port "$TESTHOSTS_IPERF3_PORT" --daemon \
        --pidfile "$state/iperf3.pid" --logfile "$state/iperf3.log"

    testhosts_write_web_root
    testhosts_write_nginx_config
    testhosts_in_netns nginx -c "$state/nginx/nginx.conf" -e "$state/nginx/error.log" \
        -p "$state/nginx"

    testhosts_in_netns setsid python3 "$TESTHOSTS_LIB_DIR/echo-server.py" \
        "$TESTHOSTS_ECHO_PORT" </dev/null >"$state/echo.log" 2>&1 &
    echo $! >"$state/echo.pid"

    testhosts_wait_for_port "$TESTHOSTS_IPERF3_PORT"
    testhosts_wait_for_port "$TESTHOSTS_HTTP_PORT"
    testhosts_wait_for_port "$TESTHOSTS_ECHO_PORT"
}

testhosts_write_env_file() {
    local blob_sha256
    blob_sha256=$(sha256sum "$TESTHOSTS_STATE_DIR/www/blob.bin" | cut -d' ' -f1)
    cat >"$TESTHOSTS_ENV_FILE" <<ENV
# Written by tests/lib/testhosts.sh; removed by its teardown.
SOCKGATE_TEST_NETNS=$TESTHOSTS_NETNS
SOCKGATE_TEST_GATEWAY_IPV4=$TESTHOSTS_GATEWAY_IPV4
SOCKGATE_TEST_GATEWAY_IPV6=$TESTHOSTS_GATEWAY_IPV6
SOCKGATE_TEST_HOST_IPV4=$TESTHOSTS_HOST_IPV4
SOCKGATE_TEST_HOST_IPV6=$TESTHOSTS_HOST_IPV6
SOCKGATE_TEST_BLACKHOLE_IPV4=${TESTHOSTS_BLACKHOLE_PREFIX4%.0/24}.1
SOCKGATE_TEST_BLACKHOLE_IPV6=${TESTHOSTS_BLACKHOLE_PREFIX6%/64}1
SOCKGATE_TEST_UNREACHABLE_IPV4=${TESTHOSTS_UNREACHABLE_PREFIX4%.0/24}.1
SOCKGATE_TEST_UNREACHABLE_IPV6=${TESTHOSTS_UNREACHABLE_PREFIX6%/64}1
SOCKGATE_TEST_IPERF3_PORT=$TESTHOSTS_IPERF3_PORT
SOCKGATE_TEST_HTTP_PORT=$TESTHOSTS_HTTP_PORT
SOCKGATE_TEST_HTTP_PATH=/hello.txt
SOCKGATE_TEST_HTTP_BODY='$TESTHOSTS_HTTP_BODY'
SOCKGATE_TEST_HTTP_BLOB_PATH=/blob.bin
SOCKGATE_TEST_HTTP_BLOB_SIZE=$TESTHOSTS_BLOB_SIZE
SOCKGATE_TEST_HTTP_BLOB_SHA256=$blob_sha256
SOCKGATE_TEST_ECHO_PORT=$TESTHOSTS_ECHO_PORT
SOCKGATE_TEST_REFUSED_PORT=$TESTHOSTS_REFUSED_PORT
ENV
    chmod 0644 "$TESTHOSTS_ENV_FILE"
}

# Sets up the test host and its services from scratch, removing leftovers of an earlier run.
testhosts_setup() {
    testhosts_teardown
    install -d -m 0755 "$TESTHOSTS_STATE_DIR"
    testhosts_create_network
    testhosts_start_services
    testhosts_write_env_file
    log_info "test host $TESTHOSTS_HOST_IPV4 / $TESTHOSTS_HOST_IPV6 is up" \
        "(namespace $TESTHOSTS_NETNS); addresses are in $TESTHOSTS_ENV_FILE"
}

# Sends SIGTERM to each process, waits up to 2 s for them to exit, then sends SIGKILL.
testhosts_stop_processes() {
    local pid alive
    (($# > 0)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    for _ in $(seq 20); do
        alive=()
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive+=("$pid")
        done
        ((${#alive[@]} == 0)) && return 0
        sleep 0.1
    done
    kill -KILL "${alive[@]}" 2>/dev/null || true
}

# Stops every process in the namespace (only setup starts any there), then removes the
# namespace, the host side of the veth pair, the routes and the state directory. Safe to run
# when nothing or only part of the setup exists.
testhosts_teardown() {
    local pids=()
    if ip netns list | grep -qw "^$TESTHOSTS_NETNS"; then
        mapfile -t pids < <(ip netns pids "$TESTHOSTS_NETNS")
        testhosts_stop_processes "${pids[@]}"
        ip netns delete "$TESTHOSTS_NETNS"
    fi
    if ip link show "$TESTHOSTS_HOST_LINK" >/dev/null 2>&1; then
        ip link delete "$TESTHOSTS_HOST_LINK"
    fi

    ip route delete "$TESTHOSTS_BLACKHOLE_PREFIX4" 2>/dev/null || true
    ip -6 route delete "$TESTHOSTS_BLACKHOLE_PREFIX6" 2>/dev/null || true
    ip route delete unreachable "$TESTHOSTS_UNREACHABLE_PREFIX4" 2>/dev/null || true
    ip -6 route delete unreachable "$TESTHOSTS_UNREACHABLE_PREFIX6" 2>/dev/null || true

    rm -rf "$TESTHOSTS_STATE_DIR"
}
