"""The plot of a suite run: each column's ratio to host, per figure, with the spread of runs.

Two panels, because a higher ratio is better for rates and worse for times.
"""

import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as pyplot  # noqa: E402  (the backend must be chosen first)

from report import run_ratios  # noqa: E402

PLOTTED_COLUMNS = ("slirp4netns", "pasta", "sockgate")
COLORS = {"slirp4netns": "#d95f02", "pasta": "#7570b3", "sockgate": "#1b9e77"}
SHORT_LABELS = {
    "iperf3_p1_upload": "iperf3\n1 up",
    "iperf3_p1_download": "iperf3\n1 down",
    "iperf3_p4_upload": "iperf3\n4 up",
    "iperf3_p4_download": "iperf3\n4 down",
    "connect_rate": "connect\nrate",
    "nginx_wrk": "nginx\nwrk",
    "request_p50": "request\np50",
    "request_p99": "request\np99",
    "syscalls": "dup+fcntl\n+close",
}


def draw_panel(axes, results, figures, title, log_scale):
    width = 0.8 / len(PLOTTED_COLUMNS)
    for index, column in enumerate(PLOTTED_COLUMNS):
        medians, lows, highs = [], [], []
        for figure in figures:
            ratios = run_ratios(results["samples"], figure["key"], column) or [float("nan")]
            median = statistics.median(ratios)
            medians.append(median)
            lows.append(median - min(ratios))
            highs.append(max(ratios) - median)
        positions = [x + (index - 1) * width for x in range(len(figures))]
        axes.bar(positions, medians, width, yerr=[lows, highs], capsize=2, label=column,
                 color=COLORS[column])
    axes.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    mark_allow_all_filter(axes, results, figures)
    if log_scale:
        axes.set_yscale("log")
    axes.set_xticks(range(len(figures)))
    axes.set_xticklabels([SHORT_LABELS.get(f["key"], f["key"]) for f in figures], fontsize=8)
    axes.set_ylabel("ratio to host (host = 1)")
    axes.set_title(title, fontsize=10)
    axes.grid(axis="y", linewidth=0.3)


def mark_allow_all_filter(axes, results, figures):
    """Mark the allow-all seccomp filter's cost on the dup+fcntl+close group: the baseline of
    sockgate's filter."""
    keys = [figure["key"] for figure in figures]
    if "syscalls" not in keys:
        return
    ratios = run_ratios(results["samples"], "syscalls_allow_all", "host", "host", "syscalls")
    if ratios:
        x = keys.index("syscalls")
        axes.plot([x - 0.45, x + 0.45], [statistics.median(ratios)] * 2, color="black",
                  linewidth=2, label="allow-all filter")
        axes.legend(fontsize=8, loc="upper right")


def write_plot(results, path):
    """Write the two-panel bar chart of ratios to host as a PNG."""
    figures = [f for f in results["figures"] if f["key"] in SHORT_LABELS]
    rates = [f for f in figures if f["higher_is_better"]]
    times = [f for f in figures if not f["higher_is_better"]]
    figure, (left, right) = pyplot.subplots(
        1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [max(len(rates), 1),
                                                                max(len(times), 1)]})
    draw_panel(left, results, rates, "rates: higher is better", log_scale=False)
    # The p99 latency through a user-mode stack can be tens of times the host's.
    draw_panel(right, results, times, "times: lower is better (log scale)", log_scale=True)
    left.legend(fontsize=8, loc="upper left")
    machine = results["machine"]
    figure.suptitle(f"sockgate benchmarks, {results['date'][:10]}: {machine['cores']} cores, "
                    f"Linux {machine['kernel']}; median of {results['runs']} runs, bars show "
                    f"min–max", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
