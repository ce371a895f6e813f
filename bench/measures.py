"""The measures of the side-by-side suite: how each one is run and how its output is read.

Each measure runs one program per cell, the same program in every column, and turns its output
into one or more figures (a figure is one row of the table). A column wraps the program:

  host         the program itself, run by the test user
  slirp4netns  sockgate run --no-filter --net slirp4netns -- PROGRAM
  pasta        sockgate run --no-filter --net pasta -- PROGRAM
  sockgate     sockgate run -- PROGRAM  (the built-in policy bypasses every TCP connect)
"""

import json
import re
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field

COLUMNS = ("host", "slirp4netns", "pasta", "sockgate")


class MeasureError(Exception):
    """A cell whose program failed or printed something that cannot be read."""


@dataclass(frozen=True)
class Figure:
    """One row of the table."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    decimals: int = 1


@dataclass
class Context:
    """Programs, test host addresses and measurement lengths that every measure needs."""

    sockgate: str
    tools: dict
    env: dict
    seconds: float
    iperf3_seconds: int
    syscall_iterations: int
    extra_columns: dict = field(default_factory=dict)

    @property
    def host_ipv4(self):
        return self.env["SOCKGATE_TEST_HOST_IPV4"]


def free_loopback_port():
    """Return a TCP port of 127.0.0.1 that was free a moment ago, for a metrics exposer."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wrap(context, column, argv, metrics_port=None):
    """Return the command line that runs argv in the column."""
    if column == "host":
        return list(argv)
    command = [context.sockgate, "run"]
    if column in ("slirp4netns", "pasta"):
        command += ["--no-filter", "--net", column, "--metrics", "none", "--control", "none"]
    elif column == "sockgate":
        port = metrics_port or free_loopback_port()
        command += ["--metrics", f"127.0.0.1:{port}"]
    else:
        raise ValueError(f"unknown column {column!r}: use one of {', '.join(COLUMNS)}")
    return command + ["--"] + list(argv)


def run_program(command, timeout):
    """Run a command and return its standard output; raise MeasureError when it fails."""
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise MeasureError(f"timed out after {timeout} s: {' '.join(command)}") from error
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip())[-600:]
        raise MeasureError(f"exit status {done.returncode}: {' '.join(command)}\n{tail}")
    return done.stdout


def last_json_line(output, program):
    """Return the last line of output that parses as a JSON object."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise MeasureError(f"{program} printed no JSON report; its output was:\n{output[-600:]}")


# Prometheus exposition: one bucket line of the notification histogram.
BUCKET_LINE = re.compile(
    r'^sockgate_notification_duration_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$')


def histogram_quantile(buckets, quantile):
    """Return the quantile of a cumulative histogram [(upper bound, count)] in seconds.

    Interpolates linearly inside the bucket, as Prometheus' histogram_quantile() does, so the
    result is only as fine as the bucket bounds.
    """
    total = buckets[-1][1]
    if total == 0:
        return None
    rank = quantile * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def scrape_notification_histogram(port):
    """Return {"count", "p50_us", "p99_us"} from a gateway's exposer on 127.0.0.1:port."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    buckets = []
    for line in text.splitlines():
        match = BUCKET_LINE.match(line)
        if match:
            buckets.append((float(match.group(1)), float(match.group(2))))
    if not buckets:
        raise MeasureError(f"no sockgate_notification_duration_seconds on port {port}")
    buckets.sort()
    return {
        "count": buckets[-1][1],
        "p50_us": histogram_quantile(buckets, 0.50) * 1e6,
        "p99_us": histogram_quantile(buckets, 0.99) * 1e6,
    }


def finish(process, command, timeout):
    """Wait for a process whose standard input is closed; raise MeasureError when it failed."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise MeasureError(f"timed out after {timeout} s: {' '.join(command)}") from error
    if process.returncode != 0:
        raise MeasureError(f"exit status {process.returncode}: {' '.join(command)}\n"
                           f"{process.stderr.read().strip()[-600:]}")


def run_held(command, timeout, on_report):
    """Run a --hold client: read its report, call on_report while it waits, then end it.

    Returns (report, what on_report returned).
    """
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if not line:
            process.stdin.close()
            finish(process, command, timeout)
            raise MeasureError(f"no report from {' '.join(command)}")
        extra = on_report()
        process.stdin.close()
        finish(process, command, timeout)
        return json.loads(line), extra
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class Measure:
    """A program run in each column, with the figures it yields."""

    name = ""
    figures = ()

    def run(self, context, column):
        """Run one cell; return {figure key or detail name: value}."""
        raise NotImplementedError


class Iperf3(Measure):
    """iperf3 against the test host's server: bytes received per second by the receiver."""

    def __init__(self, streams, reverse):
        self.streams = streams
        self.reverse = reverse
        direction = "download (-R)" if reverse else "upload"
        plural = "stream" if streams == 1 else "streams"
        self.name = f"iperf3 {streams} {plural} {direction}"
        key = f"iperf3_p{streams}_{'download' if reverse else 'upload'}"
        self.figures = (Figure(key, f"iperf3 throughput, {streams} {plural}, {direction}",
                               "Gbit/s", True, 2),)

    def run(self, context, column):
        argv = [context.tools["iperf3"], "--client", context.host_ipv4,
                "--port", context.env["SOCKGATE_TEST_IPERF3_PORT"],
                "--time", str(context.iperf3_seconds), "--parallel", str(self.streams), "--json"]
        if self.reverse:
            argv.append("--reverse")
        # The test host's iperf3 serves one test at a time and may still be closing the last.
        for attempt in range(10):
            try:
                output = run_program(wrap(context, column, argv), context.iperf3_seconds + 30)
                break
            except MeasureError as error:
                if "busy" not in str(error) or attempt == 9:
                    raise
                time.sleep(0.5)
        report = json.loads(output)
        if report.get("error"):
            raise MeasureError(f"iperf3 failed: {report['error']}")
        bits = report["end"]["sum_received"]["bits_per_second"]
        return {self.figures[0].key: bits / 1e9}


class ConnectRate(Measure):
    """bench_connect_rate against bench_server --reply-close on the test host.

    In the sockgate column the client waits after its report, so that the gateway's
    notification histogram can be read before the gateway exits.
    """

    name = "connection rate"
    figures = (Figure("connect_rate", "connection rate: connect, 1-byte request and reply, "
                      "close", "connections/s", True, 0),)

    def run(self, context, column):
        argv = [context.tools["connect_rate"], "--server",
                f"{context.host_ipv4}:{context.env['SOCKGATE_BENCH_REPLY_CLOSE_PORT']}",
                "--seconds", str(context.seconds)]
        timeout = context.seconds + 30
        histogram = None
        if column == "sockgate":
            port = free_loopback_port()
            command = wrap(context, column, argv + ["--hold"], metrics_port=port)
            report, histogram = run_held(command, timeout,
                                         lambda: scrape_notification_histogram(port))
        else:
            report = last_json_line(run_program(wrap(context, column, argv), timeout),
                                    "bench_connect_rate")
        if report["errors"]:
            raise MeasureError(f"failed connections: {report['errors']}")
        sample = {
            "connect_rate": report["connections_per_second"],
            "connect_p50_us": report["connect_us"]["p50"],
            "connect_p99_us": report["connect_us"]["p99"],
        }
        if histogram is not None:
            if histogram["count"] < report["connections"]:
                raise MeasureError(f"the gateway handled {histogram['count']:.0f} notifications "
                                   f"for {report['connections']} connects: not all were trapped")
            sample.update({f"notification_{k}": v for k, v in histogram.items()})
        return sample


class RequestLatency(Measure):
    """bench_request_latency: 1-byte round trips on one connection to bench_server --echo."""

    name = "request latency"
    figures = (
        Figure("request_p50", "request/response latency on one connection, p50", "us", False, 1),
        Figure("request_p99", "request/response latency on one connection, p99", "us", False, 1),
    )

    def run(self, context, column):
        argv = [context.tools["request_latency"], "--server",
                f"{context.host_ipv4}:{context.env['SOCKGATE_BENCH_ECHO_PORT']}",
                "--seconds", str(context.seconds)]
        output = run_program(wrap(context, column, argv), context.seconds + 30)
        report = last_json_line(output, "bench_request_latency")
        return {"request_p50": report["round_trip_us"]["p50"],
                "request_p99": report["round_trip_us"]["p99"]}


class NginxWrk(Measure):
    """wrk against the test host's nginx: requests per second for a small static page."""

    name = "nginx + wrk"
    figures = (Figure("nginx_wrk", "nginx with wrk: 16 keep-alive connections, small page",
                      "requests/s", True, 0),)

    def run(self, context, column):
        url = f"http://{context.host_ipv4}:{context.env['SOCKGATE_TEST_HTTP_PORT']}" \
              f"{context.env['SOCKGATE_TEST_HTTP_PATH']}"
        argv = [context.tools["wrk"], "--threads", "1", "--connections", "16",
                "--duration", f"{max(1, round(context.seconds))}s", "--timeout", "5s", url]
        output = run_program(wrap(context, column, argv), context.seconds + 30)
        for problem in ("Socket errors", "Non-2xx or 3xx responses"):
            if problem in output:
                raise MeasureError(f"wrk reported {problem.lower()}:\n{output[-600:]}")
        match = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
        if not match:
            raise MeasureError(f"no Requests/sec in the output of wrk:\n{output[-600:]}")
        return {"nginx_wrk": float(match.group(1))}


class SyscallLoop(Measure):
    """bench_syscall_loop; in the host column also under an allow-all seccomp filter."""

    name = "dup+fcntl+close"
    figures = (
        Figure("syscalls", "cost of non-network calls: dup+fcntl+close loop", "ns/iteration",
               False, 0),
        Figure("syscalls_allow_all", "the same loop under an allow-all seccomp filter",
               "ns/iteration", False, 0),
    )

    def run(self, context, column):
        argv = [context.tools["syscall_loop"], "--iterations", str(context.syscall_iterations)]
        report = last_json_line(run_program(wrap(context, column, argv), 120),
                                "bench_syscall_loop")
        # The suite itself may run under a filter; sockgate's adds exactly one.
        own = own_seccomp_filters()
        expected = own + (1 if column == "sockgate" else 0)
        if report["seccomp"].get("Seccomp_filters") != expected:
            raise MeasureError(f"the loop ran under {report['seccomp']}, expected "
                               f"{expected} seccomp filters in the {column} column")
        sample = {"syscalls": report["ns_per_iteration"]}
        if column == "host":
            filtered = last_json_line(run_program(argv + ["--allow-all-filter"], 120),
                                      "bench_syscall_loop")
            if filtered["seccomp"].get("Seccomp_filters") != own + 1:
                raise MeasureError(f"the allow-all loop ran under {filtered['seccomp']}")
            sample["syscalls_allow_all"] = filtered["ns_per_iteration"]
        return sample


def own_seccomp_filters():
    """Return how many seccomp filters this process runs under (Seccomp_filters in status)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Seccomp_filters:"):
                return int(line.split()[1])
    return 0


def side_by_side_measures():
    """Return the measures of the side-by-side table, in table order."""
    return [
        Iperf3(1, False), Iperf3(1, True), Iperf3(4, False), Iperf3(4, True),
        ConnectRate(), RequestLatency(), NginxWrk(), SyscallLoop(),
    ]
