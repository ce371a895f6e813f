"""Figures that only sockgate has: gateway memory, reload time and the rules benchmarks.

Memory is measured two ways: N concurrent `sockgate run` gateways (one per command), and one
`sockgate serve` with N containers attached through its seccomp listener by bench_attach_client.

The notification handling time comes from the connection-rate measure (measures.ConnectRate),
which reads the gateway's histogram while its client waits.
"""

import json
import os
import socket
import subprocess
import tempfile
import time

from measures import MeasureError, last_json_line, run_program

MIB = 1024 * 1024


def read_memory(pid):
    """Return {"rss", "pss", "uss"} of a process in bytes, from /proc/PID/smaps_rollup.

    USS is the memory only this process maps (private clean and dirty pages), PSS charges each
    shared page to the processes that map it in equal parts, and RSS counts every shared page
    in full.
    """
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return {
        "rss": fields["Rss"],
        "pss": fields["Pss"],
        "uss": fields["Private_Clean"] + fields["Private_Dirty"],
    }


def start_held_gateway(context, options=()):
    """Start `sockgate run` with a client that opens one bypassed connection and keeps it open."""
    server = f"{context.host_ipv4}:{context.env['SOCKGATE_BENCH_ECHO_PORT']}"
    command = [context.sockgate, "run", "--net", "none", "--metrics", "127.0.0.1:0",
               *options, "--", context.tools["request_latency"], "--server", server,
               "--seconds", "0.01", "--warmup", "10", "--hold"]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop_all(processes):
    """Close each client's standard input, so it exits, and wait for its gateway."""
    for process in processes:
        if process.stdin and not process.stdin.closed:
            process.stdin.close()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def gateway_memory(context, count):
    """Measure the memory of `count` concurrent `sockgate run` gateways, each serving one command
    that keeps one bypassed connection open.

    `sockgate run` has one gateway per command, so this is the memory that 100 commands cost
    under `run`: the sum of PSS counts each shared library page once across them all.
    """
    processes = []
    try:
        for _ in range(count):
            processes.append(start_held_gateway(context))
        for process in processes:
            line = process.stdout.readline()
            if not line:
                raise MeasureError(f"a gateway exited before its client reported: "
                                   f"{process.stderr.read().strip()[-600:]}")
        memory = [read_memory(process.pid) for process in processes]
    finally:
        stop_all(processes)
    failed = [process.returncode for process in processes if process.returncode != 0]
    if failed:
        raise MeasureError(f"{len(failed)} of {count} gateways exited with a failure status, "
                           f"the first {failed[0]}")
    return {
        "gateways": count,
        "rss_mib": sorted(sample["rss"] / MIB for sample in memory),
        "uss_mib": sorted(sample["uss"] / MIB for sample in memory),
        "total_pss_mib": sum(sample["pss"] for sample in memory) / MIB,
    }


def wait_for_socket(path, process, seconds):
    """Wait until `path` exists; raise MeasureError when the process exits or time runs out."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if process.poll() is not None:
            raise MeasureError(f"sockgate serve exited with status {process.returncode}: "
                               f"{process.stderr.read().strip()[-600:]}")
        if time.monotonic() > deadline:
            raise MeasureError(f"sockgate serve did not create {path} within {seconds} s")
        time.sleep(0.05)


def attach_containers(context, listener, count, serve):
    """Attach `count` containers to the serve listener; return serve's memory while they run."""
    server = f"{context.host_ipv4}:{context.env['SOCKGATE_BENCH_ECHO_PORT']}"
    command = [context.tools["attach_client"], "--listener", listener, "--server", server,
               "--count", str(count), "--hold"]
    client = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        if not client.stdout.readline():
            raise MeasureError(f"bench_attach_client attached no containers: "
                               f"{client.stderr.read().strip()[-600:]}")
        return read_memory(serve.pid)
    finally:
        stop_all([client])


def serve_memory(context, count):
    """Measure one `sockgate serve` idle and with `count` attached containers, each of which
    keeps one bypassed connection open."""
    with tempfile.TemporaryDirectory(prefix="sockgate-bench-serve-") as directory:
        listener = os.path.join(directory, "listener.sock")
        command = [context.sockgate, "serve", "--listener", listener,
                   "--control", os.path.join(directory, "control.sock"),
                   "--metrics", "127.0.0.1:0", "--log-level", "warn"]
        serve = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
        try:
            wait_for_socket(listener, serve, 10)
            idle = read_memory(serve.pid)
            attached = attach_containers(context, listener, count, serve)
        finally:
            serve.terminate()
            serve.wait(timeout=30)
    return {
        "containers": count,
        "idle": {key: value / MIB for key, value in idle.items()},
        "attached": {key: value / MIB for key, value in attached.items()},
    }


def rules_benchmarks(build_dir, min_time):
    """Run rules_bench (from bench/rules.cmake) and return {benchmark name: nanoseconds}.

    Returns None when the build has no rules_bench.
    """
    program = os.path.join(build_dir, "bench", "rules_bench")
    if not os.access(program, os.X_OK):
        return None
    output = run_program([program, "--benchmark_format=json",
                          f"--benchmark_min_time={min_time}"], 600)
    try:
        report = json.loads(output)
    except json.JSONDecodeError:
        report = last_json_line(output, "rules_bench")
    times = {}
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    for benchmark in report.get("benchmarks", []):
        if benchmark.get("run_type", "iteration") != "iteration":
            continue
        times[benchmark["name"]] = benchmark["real_time"] * scale[benchmark["time_unit"]]
    return times


def write_rules_file(path, count):
    """Write `count` rules that each match one address and port of 198.19.0.0/16, which no test
    traffic uses, and a default that bypasses everything else."""
    with open(path, "w", encoding="ascii") as file:
        file.write("# Written by bench/sockgate_only.py for the reload benchmark.\n")
        for index in range(count):
            file.write(f"rule r{index}: pass connect tcp to 198.19.{index // 256}.{index % 256} "
                       f"port {1024 + index}\n")
        file.write("default bypass\n")


def control_request(path, command):
    """Send one request to a gateway's control socket and return the JSON reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(120)
        client.connect(path)
        client.sendall(json.dumps({"command": command}).encode() + b"\n")
        reply = b""
        while chunk := client.recv(65536):
            reply += chunk
    return json.loads(reply)


def reload_time(context, count, repeats):
    """Time `repeats` reloads of a `count`-rule file through a running gateway's control socket.

    Each reload parses, checks and compiles the file, binds the metric series of every rule and
    swaps the policy. The time is the control request's round trip, in milliseconds.
    """
    with tempfile.TemporaryDirectory(prefix="sockgate-bench-reload-") as directory:
        rules = os.path.join(directory, f"{count}.rules")
        control = os.path.join(directory, "control.sock")
        write_rules_file(rules, count)
        process = start_held_gateway(context, ["--rules", rules, "--control", control])
        try:
            if not process.stdout.readline():
                raise MeasureError(f"the gateway with {count} rules exited before its client "
                                   f"reported: {process.stderr.read().strip()[-600:]}")
            times = []
            for _ in range(repeats):
                started = time.monotonic()
                reply = control_request(control, "reload")
                times.append((time.monotonic() - started) * 1000)
                if not reply.get("ok"):
                    raise MeasureError(f"reload of {count} rules failed: {reply}")
        finally:
            stop_all([process])
    return {"rules": count, "reload_ms": times}
