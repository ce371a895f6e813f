#!/usr/bin/env python3
"""Turn the suite's results.json into the Markdown tables and the plot.

Every figure is the median of the runs, with the spread (min-max) of the runs. Each column is
also given as a ratio to the host column: the ratio is computed within each run, from cells
measured a few seconds apart, and the median of those ratios is shown.

As a program it rewrites the results section of docs/benchmarks.md from a results.json:
    report.py --results DIR/results.json --docs docs/benchmarks.md --plot-link PATH
"""

import argparse
import json
import os
import statistics
import sys

from measures import COLUMNS

DOCS_BEGIN = "<!-- results:begin -->"
DOCS_END = "<!-- results:end -->"


def present(values):
    return [value for value in values or [] if value is not None]


def spread(values):
    """Return (median, min, max) of the values that are present, or None."""
    values = present(values)
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def run_ratios(samples, key, column, base_column="host", base_key=None):
    """Return the ratio column/base for each run in which both cells produced a value."""
    values = samples.get(key, {}).get(column, [])
    bases = samples.get(base_key or key, {}).get(base_column, [])
    return [value / base for value, base in zip(values, bases)
            if value is not None and base not in (None, 0)]


def format_value(value, decimals):
    return f"{value:,.{decimals}f}"


def format_cell(results, figure, column):
    stats = spread(results["samples"].get(figure["key"], {}).get(column))
    if stats is None:
        return "n/a" if figure["key"] == "syscalls_allow_all" and column != "host" else "failed"
    median, low, high = (format_value(value, figure["decimals"]) for value in stats)
    text = f"{median} ({low}–{high})" if results["runs"] > 1 else median
    if column != "host":
        ratios = run_ratios(results["samples"], figure["key"], column)
        if ratios:
            text += f" · **{statistics.median(ratios):.2f}×**"
    return text


def side_by_side_table(results):
    lines = [
        "| measure | unit | " + " | ".join(COLUMNS) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in COLUMNS) + " |",
    ]
    for figure in results["figures"]:
        cells = [format_cell(results, figure, column) for column in COLUMNS]
        lines.append(f"| {figure['label']} | {figure['unit']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def median_of(samples, key, column="sockgate"):
    stats = spread(samples.get(key, {}).get(column))
    return stats[0] if stats else None


def notification_rows(results):
    samples = results["samples"]
    rows = []
    p50 = median_of(samples, "notification_p50_us")
    p99 = median_of(samples, "notification_p99_us")
    if p50 is not None:
        rows.append(("notification handling time p50 / p99, from the gateway's "
                     "`sockgate_notification_duration_seconds` histogram (interpolated within "
                     "buckets of 1, 2.5, 5, 10, 25, 50 us ...)", f"{p50:.1f} / {p99:.1f} us"))
    added = []
    for percentile in ("p50", "p99"):
        differences = [value - base for value, base in zip(
            samples.get(f"connect_{percentile}_us", {}).get("sockgate", []),
            samples.get(f"connect_{percentile}_us", {}).get("host", []))
            if value is not None and base is not None]
        added.append(statistics.median(differences) if differences else None)
    if None not in added:
        rows.append(("time that sockgate adds to a blocking connect() to the test host, p50 / "
                     "p99 (sockgate column minus host column, same run)",
                     f"{added[0]:.1f} / {added[1]:.1f} us"))
    return rows


def memory_rows(memory):
    if memory is None:
        return []
    if "error" in memory:
        return [("gateway memory", f"failed: {memory['error'][:200]}")]
    count = memory["gateways"]
    rss = statistics.median(memory["rss_mib"])
    uss = statistics.median(memory["uss_mib"])
    return [
        (f"memory of {count} concurrent `sockgate run` gateways (`--net none`), each serving one "
         "command with one open bypassed connection: sum of PSS",
         f"{memory['total_pss_mib']:.1f} MiB ({memory['total_pss_mib'] / count:.2f} MiB per "
         "command)"),
        ("one of those gateways: RSS median (min–max), shared libraries counted in full",
         f"{rss:.1f} MiB ({min(memory['rss_mib']):.1f}–{max(memory['rss_mib']):.1f})"),
        ("one of those gateways: private memory (USS) median", f"{uss:.2f} MiB"),
    ]


def serve_memory_rows(serve):
    if serve is None:
        return []
    if "error" in serve:
        return [("memory of `sockgate serve`", f"failed: {serve['error'][:200]}")]
    count, idle, attached = serve["containers"], serve["idle"], serve["attached"]
    added_kib = (attached["rss"] - idle["rss"]) * 1024 / count
    return [
        (f"memory of one `sockgate serve` with {count} containers attached through its "
         "listener, each with one open bypassed connection: RSS / PSS / USS",
         f"{attached['rss']:.1f} / {attached['pss']:.1f} / {attached['uss']:.1f} MiB"),
        ("the same `sockgate serve` before any container attached: RSS / PSS / USS",
         f"{idle['rss']:.1f} / {idle['pss']:.1f} / {idle['uss']:.1f} MiB"),
        ("RSS that each attached container adds to `sockgate serve`", f"{added_kib:.0f} KiB"),
    ]


def reload_rows(reload):
    if reload is None:
        return []
    if "error" in reload:
        return [("reload of 10,000 rules", f"failed: {reload['error'][:200]}")]
    median, low, high = spread(reload["reload_ms"])
    return [(f"reload of {reload['rules']:,} rules in a running gateway (`reload` request on the "
             "control socket, round trip): median (min–max)",
             f"{median:.1f} ms ({low:.1f}–{high:.1f})")]


def format_nanoseconds(value):
    if value >= 1e6:
        return f"{value / 1e6:.2f} ms"
    if value >= 1e3:
        return f"{value / 1e3:.2f} us"
    return f"{value:.1f} ns"


# Rows of the rules benchmarks (bench/rules_bench.cpp): label, then the benchmark names whose
# times the row shows, joined by " / ".
RULES_ROWS = [
    (f"decision time at {count:,} rules: an event that a rule matches / that no rule matches",
     (f"BM_DecideHit/{count}", f"BM_DecideMiss/{count}")) for count in (10, 1000, 10000)
] + [("parse, check and compile 10,000 rules: the rules part of a reload",
      ("BM_ParseAndCompile/10000",))]


def rules_rows(rules):
    if rules is None:
        return [("rules benchmarks", "not built (bench/rules.cmake is missing)")]
    if "error" in rules:
        return [("rules benchmarks", f"failed: {rules['error'][:200]}")]
    rows, shown = [], set()
    for label, names in RULES_ROWS:
        if all(name in rules for name in names):
            rows.append((label, " / ".join(format_nanoseconds(rules[name]) for name in names)))
            shown.update(names)
    rows += [(f"rules_bench `{name}`", format_nanoseconds(value))
             for name, value in rules.items() if name not in shown]
    return rows


def sockgate_only_table(results):
    rows = notification_rows(results) + serve_memory_rows(results.get("serve_memory"))
    rows += memory_rows(results.get("gateway_memory"))
    rows += reload_rows(results.get("reload")) + rules_rows(results.get("rules"))
    lines = ["| sockgate only | value |", "| --- | ---: |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def target_rows(results):
    """Return (target, measured, met) for each target that the suite can check."""
    samples = results["samples"]
    rows = []
    throughput = [statistics.median(ratios) for key in samples if key.startswith("iperf3_")
                  for ratios in [run_ratios(samples, key, "sockgate")] if ratios]
    if throughput:
        worst = min(throughput)
        rows.append(("iperf3 throughput at 0.95× host or better (worst of the four rows)",
                     f"{worst:.2f}×", worst >= 0.95))
    rate = run_ratios(samples, "connect_rate", "sockgate")
    if rate:
        value = statistics.median(rate)
        rows.append(("connection rate at 0.75× host or better", f"{value:.2f}×", value >= 0.75))
    calls = run_ratios(samples, "syscalls", "sockgate", "host", "syscalls_allow_all")
    if calls:
        value = statistics.median(calls)
        rows.append(("non-network calls within 1.05× of the allow-all filter",
                     f"{value:.2f}×", value <= 1.05))
    rules = results.get("rules") or {}
    decisions = [rules[name] for name in ("BM_DecideHit/10000", "BM_DecideMiss/10000")
                 if name in rules]
    if decisions:
        rows.append(("decision time at 10,000 rules under 1 us (slower of hit and miss)",
                     format_nanoseconds(max(decisions)), max(decisions) < 1000))
    return rows


def targets_table(results):
    lines = ["| target | sockgate | met |", "| --- | ---: | --- |"]
    for target, measured, met in target_rows(results):
        lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)


def errors_list(results):
    errors = list(results.get("errors", []))
    if not errors:
        return ""
    lines = ["Failed cells:", ""]
    for error in errors:
        first_line = error["message"].splitlines()[0] if error["message"] else ""
        lines.append(f"- run {error['run']}, {error['measure']}, {error['column']}: "
                     f"{first_line[:300]}")
    return "\n".join(lines)


def machine_line(results):
    machine = results["machine"]
    start = ", ".join(f"{value:.1f}" for value in machine["load_average_start"])
    end = ", ".join(f"{value:.1f}" for value in machine.get("load_average_end", []))
    return (f"{results['date']}; {machine['cores']} cores, {machine['cpu']}, "
            f"{machine['memory_gib']} GiB, Linux {machine['kernel']}; load average "
            f"{start} at the start and {end} at the end; {results['mode']} mode, "
            f"{results['runs']} runs per cell, {results['seconds']:.0f} s")


def markdown(results):
    """Return the whole Markdown report of one suite run."""
    parts = [
        f"Measured {machine_line(results)}.",
        f"Command: `{results['command']}`" if results.get("command") else "",
        "Each cell: median (min–max) of the runs · **median ratio to host** within a run.",
        side_by_side_table(results),
        sockgate_only_table(results),
        targets_table(results),
        errors_list(results),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def sockgate_only_errors(results):
    return [name for name in ("gateway_memory", "serve_memory", "reload", "rules")
            if isinstance(results.get(name), dict) and "error" in results[name]]


def write_report(results, out_dir):
    """Write table.md and plot.png into out_dir; return the Markdown."""
    text = markdown(results)
    with open(os.path.join(out_dir, "table.md"), "w", encoding="utf-8") as file:
        file.write(text)
    import plot  # matplotlib is slow to import, and only the report needs it
    plot.write_plot(results, os.path.join(out_dir, "plot.png"))
    return text


def update_docs(results, docs_path, plot_link):
    """Replace the text between the results markers of docs_path with the latest report."""
    with open(docs_path, encoding="utf-8") as file:
        text = file.read()
    begin, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"report.py: {docs_path} lacks the lines {DOCS_BEGIN} and {DOCS_END}")
    section = f"{DOCS_BEGIN}\n{markdown(results)}\n![Ratio to host per column]({plot_link})\n"
    with open(docs_path, "w", encoding="utf-8") as file:
        file.write(text[:begin] + section + text[end:])


def main():
    parser = argparse.ArgumentParser(description="Write the benchmark results into the docs")
    parser.add_argument("--results", required=True, help="results.json of a suite run")
    parser.add_argument("--docs", required=True, help="Markdown file with the results markers")
    parser.add_argument("--plot-link", required=True, help="link to plot.png from the docs")
    arguments = parser.parse_args()
    with open(arguments.results, encoding="utf-8") as file:
        results = json.load(file)
    update_docs(results, arguments.docs, arguments.plot_link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
