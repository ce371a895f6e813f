#!/usr/bin/env python3
"""Run the side-by-side benchmarks as the unprivileged test user and write the results.

bench/run.sh sets up what needs root (the test user, the test host with its servers) and the
Release build, and then runs this script as the test user. It runs every cell of the table
(each measure in each column) once per run, with the column order rotated from run to run, so
that a change in the machine's load during the suite reaches every column alike. Then it
measures what only sockgate has, and writes results.json, table.md and plot.png into --out.

Exit status: 0 when every cell produced its figures, 1 when any failed (the table lists them).
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

import measures
import report
import sockgate_only

# Runs per cell and the length of each measurement, per mode.
MODES = {
    "full": {"runs": 5, "seconds": 2.0, "iperf3_seconds": 3, "syscall_iterations": 1_000_000,
             "gateways": 100, "rules_min_time": 0.5},
    "quick": {"runs": 2, "seconds": 0.5, "iperf3_seconds": 1, "syscall_iterations": 300_000,
              "gateways": 20, "rules_min_time": 0.05},
    "smoke": {"runs": 1, "seconds": 0.3, "iperf3_seconds": 1, "syscall_iterations": 100_000,
              "gateways": 5, "rules_min_time": 0.01},
}

LOAD_GENERATORS = {
    "connect_rate": "bench_connect_rate",
    "request_latency": "bench_request_latency",
    "syscall_loop": "bench_syscall_loop",
    "attach_client": "bench_attach_client",
}


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True,
                        help="CMake build directory with core/sockgate and the bench programs")
    parser.add_argument("--env", required=True,
                        help="test host env file written by tests/lib/testhosts.sh, with the "
                             "SOCKGATE_BENCH_* ports that bench/run.sh appends")
    parser.add_argument("--out", required=True, help="directory for the results")
    parser.add_argument("--mode", choices=sorted(MODES), default="full",
                        help="full: 5 runs per cell; quick: 2 shorter runs; smoke: 1 tiny run")
    parser.add_argument("--command", default="",
                        help="the command line that started the suite, for the report")
    return parser.parse_args()


def load_env(path):
    """Return the KEY=VALUE lines of a shell env file as a dict, without quotes."""
    env = {}
    with open(path, encoding="utf-8") as file:
        for line in file:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            env[key] = value.strip("'\"")
    for key in ("SOCKGATE_TEST_HOST_IPV4", "SOCKGATE_BENCH_ECHO_PORT",
                "SOCKGATE_BENCH_REPLY_CLOSE_PORT"):
        if key not in env:
            sys.exit(f"suite.py: {key} is missing from {path}; start the suite with bench/run.sh")
    return env


def find_tools(build_dir):
    """Return the paths of the programs that the measures run; exit when one is missing."""
    tools = {key: os.path.join(build_dir, "bench", name) for key, name in LOAD_GENERATORS.items()}
    for name in ("iperf3", "wrk"):
        tools[name] = shutil.which(name) or ""
    missing = [path or key for key, path in tools.items() if not os.access(path, os.X_OK)]
    sockgate = os.path.join(build_dir, "core", "sockgate")
    if not os.access(sockgate, os.X_OK):
        missing.append(sockgate)
    if missing:
        sys.exit(f"suite.py: not found or not executable: {', '.join(missing)}; build the "
                 f"targets sockgate and bench_load_generators, and install iperf3 and wrk")
    return sockgate, tools


def program_version(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not found"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def machine_info():
    """Return the machine facts for the report: cores, CPU, kernel, load, versions."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        memory_kib = int(meminfo.readline().split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "load_average_start": os.getloadavg(),
        "versions": {
            "iperf3": program_version(["iperf3", "--version"]),
            "wrk": program_version(["wrk", "--version"]),
            "slirp4netns": program_version(["slirp4netns", "--version"]),
            "nginx": program_version(["nginx", "-v"]),
        },
    }


def raise_open_files_limit():
    """Raise the soft limit of open files to the hard limit and return it.

    Podman 4 gives its containers 1,048,576 open files, or the user's hard limit when that is
    lower (podman-run(1), --ulimit). slirp4netns inherits this limit from `sockgate run` and
    keeps a host socket open for about 10 s after each connection ends, so with the usual 1,024
    it fails connects with ENETUNREACH after about a thousand connections.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rotated(columns, run):
    shift = run % len(columns)
    return columns[shift:] + columns[:shift]


def format_sample(measure, sample):
    figure = measure.figures[0]
    if figure.key not in sample:
        return "failed"
    return f"{sample[figure.key]:,.{figure.decimals}f} {figure.unit}"


def run_side_by_side(context, runs):
    """Run every cell `runs` times; return (samples, errors).

    samples[name][column] is a list with one value per run (None for a failed cell), for each
    figure key and detail name that a measure returns.
    """
    all_measures = measures.side_by_side_measures()
    cells = [(run, measure, column) for run in range(runs) for measure in all_measures
             for column in rotated(list(measures.COLUMNS), run)]
    samples, errors = {}, []
    for index, (run, measure, column) in enumerate(cells, start=1):
        started = time.monotonic()
        try:
            sample = measure.run(context, column)
        except (measures.MeasureError, OSError, KeyError, ValueError) as error:
            sample = {}
            errors.append({"measure": measure.name, "column": column, "run": run + 1,
                           "message": str(error)})
        for key, value in sample.items():
            values = samples.setdefault(key, {}).setdefault(column, [None] * runs)
            values[run] = value
        print(f"[{index:3}/{len(cells)}] run {run + 1}/{runs}  {measure.name:<32} "
              f"{column:<12} {format_sample(measure, sample)} "
              f"({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
        if not sample:
            print(f"    {errors[-1]['message']}", file=sys.stderr, flush=True)
    return samples, errors


def run_sockgate_only(context, settings, build_dir):
    """Measure gateway memory and reload time and run the rules benchmarks.

    A failure becomes {"error": MESSAGE} in place of that result.
    """
    steps = [
        ("gateway_memory", f"{settings['gateways']} concurrent `sockgate run` gateways",
         lambda: sockgate_only.gateway_memory(context, settings["gateways"])),
        ("serve_memory", f"one `sockgate serve` with {settings['gateways']} attached containers",
         lambda: sockgate_only.serve_memory(context, settings["gateways"])),
        ("reload", f"{settings['runs']} reloads of 10,000 rules through the control socket",
         lambda: sockgate_only.reload_time(context, 10000, settings["runs"])),
        ("rules", "rules_bench: decision time and compile time",
         lambda: sockgate_only.rules_benchmarks(build_dir, settings["rules_min_time"])),
    ]
    results = {}
    for key, description, step in steps:
        started = time.monotonic()
        try:
            results[key] = step()
            outcome = "done"
        except (measures.MeasureError, OSError, ValueError, KeyError) as error:
            results[key] = {"error": str(error)}
            outcome = f"failed: {error}"
        print(f"[sockgate only] {description}: {outcome} "
              f"({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
    return results


def main():
    arguments = parse_arguments()
    settings = MODES[arguments.mode]
    env = load_env(arguments.env)
    sockgate, tools = find_tools(arguments.build_dir)
    context = measures.Context(sockgate=sockgate, tools=tools, env=env,
                               seconds=settings["seconds"],
                               iperf3_seconds=settings["iperf3_seconds"],
                               syscall_iterations=settings["syscall_iterations"])
    results = {
        "mode": arguments.mode,
        "runs": settings["runs"],
        "settings": settings,
        "command": arguments.command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "figures": [vars(figure) for measure in measures.side_by_side_measures()
                    for figure in measure.figures],
    }
    results["machine"]["open_files_limit"] = raise_open_files_limit()
    started = time.monotonic()
    results["samples"], results["errors"] = run_side_by_side(context, settings["runs"])
    results.update(run_sockgate_only(context, settings, arguments.build_dir))
    results["machine"]["load_average_end"] = os.getloadavg()
    results["seconds"] = round(time.monotonic() - started, 1)

    os.makedirs(arguments.out, exist_ok=True)
    with open(os.path.join(arguments.out, "results.json"), "w", encoding="utf-8") as file:
        json.dump(results, file, indent=1)
    table = report.write_report(results, arguments.out)
    print(table)
    return 1 if results["errors"] or report.sockgate_only_errors(results) else 0


if __name__ == "__main__":
    sys.exit(main())
