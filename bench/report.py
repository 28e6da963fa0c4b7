"""The run's report: markdown tables (min/median/max, ratio to uv, target verdict), raw JSON, PNG plots."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.alternatives import LABELS as ALT_LABELS
from bench.alternatives import METRICS as ALT_METRICS
from bench.harness import Result, Results
from bench.ready import label as ready_label

TITLES = {
    "ready": "1. Environment ready, N at once (wall s until the last is ready)",
    "import": "2. Import through a fresh mount (store warm, and page cache dropped) and warm, against the uv venv (s per process)",
    "requests": "2b. Daemon requests during one warm import (SIGUSR1 counters before and after)",
    "parallel": "3. Parallel importers on one mount against the uv venv (wall s)",
    "memory": "3b. Memory: page cache of a second environment, daemon RSS after walking the whole mount",
    "scaling": "4. Mount time against files in the lock (s)",
    "daemon": "5. Daemon resources while serving",
    "fetch": "6. Cold fetch: empty store and uv cache (s)",
    "alternatives": "7. Every way of making N environments: environment ready and worker ready (wall s until the last)",
    "alternatives-goals": "7b. Issue 14's goals (ratios of medians)",
    "fleet": "8. M different locks on one node: ready, page cache and daemon RSS after all M have imported",
}


def _num(value: float, unit: str) -> str:
    return f"{value:.3f}" if unit in ("s", "x") and abs(value) < 100 else f"{value:.1f}"


def _spread(result: Result | None) -> str:
    if result is None:
        return "-"
    if not result.samples:
        return result.note or "-"
    s, u = result.samples, result.unit
    return f"{_num(result.median, u)} ({_num(min(s), u)}–{_num(max(s), u)})"


def _ready_table(results: Results) -> list[str]:
    rows = results.section("ready")
    ns = sorted({int(re.match(r"ready/N=(\d+)/", r.key).group(1)) for r in rows})
    configs = list(dict.fromkeys(r.key.split("/", 2)[2] for r in rows))
    ours = [c for c in configs if c.startswith("vsite")]
    uvs = [c for c in configs if c.startswith("uv-")]
    pairs = [(v, u) for v in ours for u in uvs]
    head = ["N", *configs, *[f"{v} / {u}" for v, u in pairs], "target", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for n in ns:
        get = lambda c: results.by_key.get(f"ready/N={n}/{c}")  # noqa: E731 - a one-line local helper
        ratios = []
        for v, u in pairs:
            mine, base = get(v), get(u)
            ok = mine and mine.samples and base and base.samples
            ratios.append(f"{mine.median / base.median:.3f}x" if ok else "-")
        with_target = [(c, get(c)) for c in ours if get(c) and get(c).target]
        target = with_target[0][1].target.describe("s") if with_target else ""
        verdict = "; ".join(f"{c}: {results.verdict(r)}" for c, r in with_target)
        lines.append("| " + " | ".join([str(n), *[_spread(get(c)) for c in configs], *ratios, target, verdict]) + " |")
    return lines


def _alt_keys(results: Results) -> tuple[list[int], list[str]]:
    rows = results.section("alternatives")
    ns = sorted({int(re.match(r"alt/\w+/N=(\d+)/", r.key).group(1)) for r in rows})
    configs = list(dict.fromkeys(r.key.split("/", 3)[3] for r in rows))
    return ns, configs


def _alternatives_table(results: Results) -> list[str]:
    ns, configs = _alt_keys(results)
    head = ["row", *[f"{ALT_METRICS[m]}, N={n}" for m in ALT_METRICS for n in ns]]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for config in configs:
        cells = [_spread(results.by_key.get(f"alt/{m}/N={n}/{config}")) for m in ALT_METRICS for n in ns]
        lines.append("| " + " | ".join([ALT_LABELS.get(config, config), *cells]) + " |")
    return lines


def _table(results: Results, section: str) -> list[str]:
    lines = ["| what | unit | runs | median (min–max) | vs uv | target | verdict |", "|" + " --- |" * 7]
    for r in results.section(section):
        ratio = results.ratio(r)
        lines.append(f"| {r.label} | {r.unit} | {len(r.samples)} | {_spread(r)} | "
                     f"{f'{ratio:.2f}x' if ratio is not None else ''} | "
                     f"{r.target.describe(r.unit) if r.target else ''} | {results.verdict(r)} |")
    return lines


def markdown(results: Results, header: list[str]) -> str:
    """The whole report as markdown: the header lines, then one table per section that has results."""
    out = list(header)
    for section, title in TITLES.items():
        if not results.section(section):
            continue
        out += ["", f"### {title}", ""]
        out += (_ready_table(results) if section == "ready" else
                _alternatives_table(results) if section == "alternatives" else _table(results, section))
    return "\n".join(out) + "\n"


def write_json(results: Results, machine: dict, path: Path) -> None:
    path.write_text(json.dumps({"machine": machine, "results": [r.to_json() for r in results.by_key.values()]},
                               indent=1))


def _median_spread(runs: list, scale: float = 1.0) -> tuple[list[float], list[list[float]]]:
    """Medians of ``runs`` (Results) and their min/max distances, as ``errorbar`` takes them."""
    med = [r.median * scale for r in runs]
    err = [[m - min(r.samples) * scale for r, m in zip(runs, med)],
           [max(r.samples) * scale - m for r, m in zip(runs, med)]]
    return med, err


def _save(fig, path: Path, written: list[Path], **layout) -> None:
    """Lay out, write and close one figure; note it in ``written``."""
    import matplotlib.pyplot as plt

    fig.tight_layout(**layout)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)


def plot(results: Results, outdir: Path, stem: str) -> list[Path]:
    """``<stem>-ready.png`` (ready time against N) and ``<stem>-scaling.png`` (mount time against files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    ready = [r for r in results.section("ready") if r.samples]
    if ready:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for config in dict.fromkeys(r.key.split("/", 2)[2] for r in ready):
            rows = sorted((int(re.match(r"ready/N=(\d+)/", r.key).group(1)), r) for r in ready
                          if r.key.endswith("/" + config))
            xs = [n for n, _ in rows]
            med, err = _median_spread([r for _, r in rows])
            ax.errorbar(xs, med, yerr=err, marker="o", capsize=3,
                        label=ready_label(config))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("environments made at once (N)")
        ax.set_ylabel("wall time until all are ready (s)")
        ax.set_title("Environment ready: vsite mount vs uv sync (warm caches)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        _save(fig, outdir / f"{stem}-ready.png", written)
    alt_ns, alt_configs = _alt_keys(results)
    if alt_configs:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharex=True, sharey=True)
        for ax, (metric, title) in zip(axes, ALT_METRICS.items()):
            for i, config in enumerate(alt_configs):
                points = [(n, results.by_key.get(f"alt/{metric}/N={n}/{config}")) for n in alt_ns]
                points = [(n, r) for n, r in points if r is not None and r.samples]
                if not points:
                    continue
                med, err = _median_spread([r for _, r in points])
                ax.errorbar([n for n, _ in points], med, yerr=err, marker="o", capsize=3,
                            color="black" if config == "floor" else plt.get_cmap("tab20")(i % 20),
                            linestyle="--" if config == "floor" else "-",  # more rows than the default 10 colours
                            label=ALT_LABELS.get(config, config), linewidth=2.2 if config.startswith("vsite") else 1.2)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("workers at once (N)")
            ax.set_title(title)
            ax.grid(True, which="both", alpha=0.3)
        axes[0].set_ylabel("wall time until the last is ready (s)")
        handles = {}
        for ax in axes:
            for handle, name in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(name, handle)
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=3, fontsize=8)
        fig.subplots_adjust(bottom=0.3)
        _save(fig, outdir / f"{stem}-alternatives.png", written, rect=(0, 0.2, 1, 1))
    fleet = [r for r in results.section("fleet") if r.samples and r.key.endswith(("/page-cache", "/rss-total"))]
    if fleet:
        sides = list(dict.fromkeys(r.key.split("/")[1] if "/links-off/" not in r.key else
                                   "/".join(r.key.split("/")[1:3]) for r in fleet))
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        width = 0.38
        for j, (suffix, name) in enumerate((("page-cache", "page cache growth over the M imports"),
                                            ("rss-total", "daemons' RSS, sum"))):
            values = [results.by_key.get(f"fleet/{side}/{suffix}") for side in sides]
            ax.bar([i + (j - 0.5) * width for i in range(len(sides))],
                   [v.median if v is not None and v.samples else 0 for v in values], width, label=name)
        ax.set_xticks(range(len(sides)), sides)
        ax.set_ylabel("MB")
        ax.set_title("M different locks on one node: memory after all M imported")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend()
        _save(fig, outdir / f"{stem}-fleet.png", written)
    series = [("scaling/", "wall time (median, min–max)"), ("scaling-cpu/", "CPU time, command + daemon")]
    curves = [(label, sorted((int(r.key.split("/")[1]), r) for r in results.section("scaling")
                             if r.samples and r.key.startswith(prefix))) for prefix, label in series]
    if curves[0][1]:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for label, points in curves:
            xs = [f for f, _ in points]
            med, err = _median_spread([r for _, r in points], scale=1000)
            ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=label)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("files in the environment (installed, without bytecode)")
        ax.set_ylabel("ms for one `vsite mount --venv`")
        ax.set_title("Mount time against lock size")
        ax.grid(True, alpha=0.3)
        ax.legend()
        _save(fig, outdir / f"{stem}-scaling.png", written)
    return written
