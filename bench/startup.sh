#!/usr/bin/env bash
# Measures what `sockgate serve` adds to the start of a rootless runc container: `runc run` of a
# trivial command in three bundles that differ only in their seccomp section.
#
#   no-seccomp  no seccomp filter at all
#   allow-all   a filter that allows every call (defaultAction SCMP_ACT_ALLOW, no rules), as a
#               container without sockgate has at least
#   sockgate    the profile from `sockgate profile` with no base: the same filter plus the rule
#               that notifies connect and bind to a running `sockgate serve` (built-in policy)
#
# Two commands run in each bundle. `true` makes no network call, so its start does not wait for
# the gateway. `connect` makes one connect to 127.0.0.1:9 inside the container, which waits until
# the gateway has attached the container and decided the call. Each of the six cells runs
# N times, interleaved, and the script prints the medians and the differences.
#
# Run it as an unprivileged user who can run rootless runc, with busybox-static, runc, jq and
# python3 installed, from a build directory that has the targets sockgate and
# sockgate-probe-static. It writes results.json and table.md to the output folder.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bench/startup.sh --build-dir DIR [--runs N] [--out DIR]

  --build-dir DIR  CMake build directory with core/sockgate and tests/oci/sockgate-probe-static
  --runs N         measured runs per cell (default 30)
  --out DIR        where to write results.json and table.md (default bench/results/startup)
USAGE
}

REPO_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=""
RUNS=30
OUT_DIR=$REPO_DIR/bench/results/startup

while (($# > 0)); do
    case $1 in
    --build-dir) BUILD_DIR=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --out) OUT_DIR=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done

die() {
    echo "bench/startup.sh: $*" >&2
    exit 1
}

[[ -n $BUILD_DIR ]] || { usage >&2; exit 2; }
SOCKGATE=$BUILD_DIR/core/sockgate
PROBE=$BUILD_DIR/tests/oci/sockgate-probe-static
[[ -x $SOCKGATE ]] || die "$SOCKGATE not found; build the target sockgate"
[[ -x $PROBE ]] || die "$PROBE not found; build the target sockgate-probe-static"
[[ $(id -u) != 0 ]] || die "run it as an unprivileged user: the containers are rootless"
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 3 ]] || die "invalid --runs '$RUNS': use a number of 3 or more"
for program in runc jq python3; do
    command -v "$program" >/dev/null || die "$program is not installed"
done
if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
    die "/bin/busybox is missing or not static; install busybox-static"
fi

WORK=$(mktemp -d /tmp/sockgate-startup-XXXXXX)
SERVE_PID=""
cleanup() {
    [[ -n $SERVE_PID ]] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -m 0700 "$WORK/run"
export XDG_RUNTIME_DIR=$WORK/run
LISTENER=$WORK/listener.sock
CONTROL=$WORK/control.sock

make_rootfs() {
    mkdir -p "$WORK/rootfs"/{bin,dev,proc,sys,tmp}
    cp /bin/busybox "$WORK/rootfs/bin/busybox"
    cp "$PROBE" "$WORK/rootfs/bin/probe"
}

# Writes the bundle NAME with the seccomp section in the file SECCOMP ("" for none) and the
# command ARGS_JSON.
make_bundle() {
    local name=$1 seccomp=$2 args=$3
    local bundle=$WORK/bundles/$name
    mkdir -p "$bundle"
    (cd "$bundle" && runc spec --rootless)
    local section=null
    [[ -n $seccomp ]] && section=$(cat "$seccomp")
    jq --argjson seccomp "$section" --argjson args "$args" --arg rootfs "$WORK/rootfs" '
        .process.terminal = false | .process.args = $args | .root.path = $rootfs |
        .linux.namespaces += [{"type": "network"}] |
        if $seccomp == null then del(.linux.seccomp) else .linux.seccomp = $seccomp end' \
        "$bundle/config.json" >"$bundle/config.json.new"
    mv "$bundle/config.json.new" "$bundle/config.json"
}

start_serve() {
    # Debug level: serve logs how long each attach took.
    "$SOCKGATE" serve --listener "$LISTENER" --control "$CONTROL" --metrics none \
        --log-level debug >"$WORK/serve.log" 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 100); do
        [[ -S $LISTENER && -S $CONTROL ]] && return 0
        sleep 0.1
    done
    cat "$WORK/serve.log" >&2
    die "sockgate serve did not start"
}

# Runs every bundle RUNS times (after 3 warm-up runs each) in rounds, each round in a new random
# order, so that load from other processes spreads over all cells alike, and writes the times.
# NOTE: hyperfine would run all runs of one cell before the next, which on a busy machine made
# the cells differ by more than sockgate's share.
measure_interleaved() {
    python3 - "$WORK" "$RUNS" "$@" >"$WORK/times.json" <<'PYTHON'
import json
import random
import subprocess
import sys
import time

work, runs, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
times = {name: [] for name in names}


def run(name):
    command = ["runc", "--root", f"{work}/runc", "run", "--bundle", f"{work}/bundles/{name}",
               f"bench-{name}"]
    started = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"runc run of {name} failed: {result.stderr.decode().strip()}")
    return elapsed * 1000


for name in names:
    for _ in range(3):
        run(name)
for round_number in range(runs):
    order = list(names)
    random.shuffle(order)
    for name in order:
        times[name].append(run(name))
    print(f"round {round_number + 1} of {runs}", file=sys.stderr, end="\r")
print(file=sys.stderr)
json.dump(times, sys.stdout)
PYTHON
}

make_rootfs
start_serve
"$SOCKGATE" profile --listener "$LISTENER" >"$WORK/sockgate.json"
jq 'del(.listenerPath) | .syscalls = []' "$WORK/sockgate.json" >"$WORK/allow-all.json"

declare -A COMMANDS=(
    [true]='["/bin/busybox", "true"]'
    [connect]='["/bin/probe", "errno", "127.0.0.1", "9"]'
)
BUNDLES=()
for command in true connect; do
    for filter in no-seccomp allow-all sockgate; do
        seccomp=""
        [[ $filter != no-seccomp ]] && seccomp=$WORK/$filter.json
        make_bundle "$filter-$command" "$seccomp" "${COMMANDS[$command]}"
        BUNDLES+=("$filter-$command")
    done
done
echo "measuring ${#BUNDLES[@]} bundles, $RUNS rounds; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
measure_interleaved "${BUNDLES[@]}"

# Every connect run went through the gateway: it decided once per run and warm-up.
decisions=$("$SOCKGATE" status --control "$CONTROL" --json |
    jq '.decisions.pass + .decisions.bypass + .decisions.deny')
expected=$((RUNS + 3))
[[ $decisions == "$expected" ]] ||
    die "the gateway decided $decisions connects, expected $expected; see $WORK/serve.log"

mkdir -p "$OUT_DIR"
python3 - "$WORK/times.json" "$OUT_DIR" "$RUNS" "$LOAD_BEFORE" "$(uname -r)" \
    "$(runc --version | head -1)" "$WORK/serve.log" <<'PYTHON'
import json
import os
import re
import statistics
import sys

times_path, out_dir, runs, load, kernel, runc, serve_log = sys.argv[1:8]
times = json.load(open(times_path))
# "listener PATH: container ID from runtime pid N attached in 1.23 ms, metadata ""
attaches = [float(match.group(1)) for match in
            re.finditer(r"attached in ([0-9.]+) ms", open(serve_log).read())]


def quartiles(values):
    q = statistics.quantiles(values, n=4)
    return {"p25": q[0], "median": q[1], "p75": q[2]}


summary = {name: quartiles(values) for name, values in times.items()}
lines = ["| command | no seccomp (ms) | allow-all filter (ms) | sockgate (ms) | "
         "sockgate - allow-all (ms) |", "| --- | ---: | ---: | ---: | ---: |"]
for command in ("true", "connect"):
    cells = [summary[f"{filter}-{command}"] for filter in ("no-seccomp", "allow-all", "sockgate")]
    difference = cells[2]["median"] - cells[1]["median"]
    lines.append(f"| {command} | " + " | ".join(
        f"{cell['median']:.1f} ({cell['p25']:.1f}-{cell['p75']:.1f})" for cell in cells)
        + f" | {difference:+.1f} |")
attach = quartiles(attaches)
lines.append("")
lines.append(f"Attach in the gateway (pidfd, namespaces, sockets), {len(attaches)} containers: "
             f"median {attach['median']:.2f} ms ({attach['p25']:.2f}-{attach['p75']:.2f}).")
table = "\n".join(lines) + "\n"
with open(os.path.join(out_dir, "table.md"), "w") as file:
    file.write(table)
with open(os.path.join(out_dir, "results.json"), "w") as file:
    json.dump({"runs": int(runs), "load_average_before": float(load), "kernel": kernel,
               "runc": runc, "cpus": os.cpu_count(), "milliseconds": summary,
               "attach_milliseconds": attach, "samples": times, "attach_samples": attaches},
              file, indent=1)
print(table, end="")
PYTHON
echo "medians of $RUNS interleaved runs each, 25th to 75th percentile in brackets; results in" \
    "$OUT_DIR"
