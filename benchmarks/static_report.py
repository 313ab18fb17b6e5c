"""Render benchmark results as markdown: tables, targets, and exactly what was run."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from static_run import Result


@dataclass
class Target:
    name: str
    measured: float | None  # None when a needed row failed or was not run
    limit: float
    unit: str  # "x" (ratio) or "s"
    higher_is_better: bool = False
    detail: str = ""
    cpu: float | None = None  # the same target computed from CPU times instead of wall

    def verdict(self, value: float | None = None) -> str:
        if value is None:
            return "not measured"
        ok = value >= self.limit if self.higher_is_better else value <= self.limit
        if ok:
            return "meets"
        factor = self.limit / value if self.higher_is_better else value / self.limit
        return f"MISSES by {factor:.1f}x"

    def show(self, value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}x" if self.unit == "x" else _fmt_time(value)


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"


def _fmt_rate(lines: int, t: float | None) -> str:
    if not t:
        return "-"
    rate = lines / t
    return f"{rate / 1000:,.0f}k" if rate >= 10_000 else f"{rate:,.0f}"


def results_table(results: list[Result], reference: Result | None) -> str:
    ref = reference.median if reference else None
    rows = ["| tool / case | median wall | min - max | runs | lines/s | ratio to sqlaguard "
            "| median CPU | findings | load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        c = r.case
        if r.error:
            rows.append(f"| {c.label} | error: {r.error.replace('|', '/')} | | | | | | | |")
            continue
        med = r.median
        spread = f"{_fmt_time(min(r.times))} - {_fmt_time(max(r.times))}" if r.times else "-"
        runs = f"{len(r.times)}" + (f" of {c.repeats}" if len(r.times) < c.repeats else "")
        runs += f" (+{c.warmups} warm-up)" if c.warmups else ""
        ratio = f"{med / ref:.2f}x" if med and ref else "-"
        findings = "-" if r.findings is None or not c.count_findings else str(r.findings)
        load = f"{r.load[0]:.1f} / {r.load[1]:.1f}"
        rows.append(f"| {c.label} | {_fmt_time(med)} | {spread} | {runs} | "
                    f"{_fmt_rate(c.lines, med)} | {ratio} | {_fmt_time(r.median_cpu)} | "
                    f"{findings} | {load} |")
    return "\n".join(rows)


def targets_table(targets: list[Target]) -> str:
    rows = ["| target | limit | measured (wall) | verdict (wall) | from CPU times | "
            "verdict (CPU) | computed as |",
            "|---|---:|---:|---|---:|---|---|"]
    for t in targets:
        op = ">=" if t.higher_is_better else "<="
        limit = f"{op} {t.limit:g}x" if t.unit == "x" else f"{op} {_fmt_time(t.limit)}"
        rows.append(f"| {t.name} | {limit} | {t.show(t.measured)} | {t.verdict(t.measured)} | "
                    f"{t.show(t.cpu)} | {t.verdict(t.cpu)} | {t.detail} |")
    return "\n".join(rows)


def commands_list(results: list[Result]) -> str:
    lines = []
    for r in results:
        c = r.case
        cmd = shlex.join(c.cmd)
        note = f" -- {c.note}" if c.note else ""
        lines.append(f"- **{c.label}** (cwd `{c.cwd}`): `{cmd}`{note}")
    return "\n".join(lines)


def kv_table(title: str, items: dict[str, str]) -> str:
    rows = [f"| {title} | |", "|---|---|"]
    rows += [f"| {k} | {v} |" for k, v in items.items()]
    return "\n".join(rows)
