"""Summaries of a run's raw measurements: medians, per-round ratios, the Markdown table."""

from __future__ import annotations

from typing import Any

from benchmarks.drivers import BASELINE
from benchmarks.drivers.common import median
from benchmarks.workloads import WORKLOADS

Measurement = dict[str, Any]
"""One raw measurement: round, workload, driver, loop, status, value, reason, ..."""


def summarise(
    measurements: list[Measurement],
    pgbench: list[dict[str, Any]],
    drivers: list[str],
    workloads: list[str],
    loops: list[str],
) -> dict[str, Any]:
    """Per (workload, loop): each driver's median and status, and the medians of the
    per-round ratios to the baseline (ratios are taken within one round, where the drivers
    ran back to back, so that drift between rounds cancels out)."""
    summary: dict[str, Any] = {}
    for workload in workloads:
        per_loop: dict[str, Any] = {}
        for loop in loops:
            cell = [m for m in measurements if m["workload"] == workload and m["loop"] == loop]
            by_driver = {d: _driver_summary([m for m in cell if m["driver"] == d]) for d in drivers}
            ratios = {}
            for driver in drivers:
                if driver != BASELINE and BASELINE in drivers:
                    ratios[f"{driver}/{BASELINE}"] = _median_ratio(cell, driver, BASELINE)
            entry: dict[str, Any] = {"drivers": by_driver, "ratios": ratios}
            if workload == "W1" and pgbench:
                entry["vs_pgbench"] = {
                    d: _median_ratio_to_pgbench(cell, d, pgbench) for d in drivers
                }
            per_loop[loop] = entry
        summary[workload] = per_loop
    if pgbench:
        summary["pgbench"] = {
            mode: {
                "tps": median([p["tps"] for p in pgbench if p["mode"] == mode]),
                "rounds": sum(1 for p in pgbench if p["mode"] == mode),
            }
            for mode in sorted({p["mode"] for p in pgbench})
        }
    return summary


def _driver_summary(rows: list[Measurement]) -> dict[str, Any]:
    ok = [m for m in rows if m["status"] == "ok"]
    if not ok:
        reasons = sorted({m.get("reason", "") for m in rows})
        status = "n/a" if rows and all(m["status"] == "n/a" for m in rows) else "error"
        return {"status": status if rows else "not run", "reason": "; ".join(reasons)}
    values = [m["value"] for m in ok]
    result: dict[str, Any] = {
        "status": "ok",
        "median": median(values),
        "min": min(values),
        "max": max(values),
        "rounds": len(values),
        "errors": [m.get("reason", "") for m in rows if m["status"] == "error"],
        "caveats": sorted({c for m in ok for c in m.get("caveats", [])}),
    }
    if all("p50_us" in m for m in ok):
        result["p50_us"] = median([m["p50_us"] for m in ok])
        result["p99_us"] = median([m["p99_us"] for m in ok])
    return result


def _median_ratio(cell: list[Measurement], driver: str, baseline: str) -> float | None:
    ratios = []
    for round_no in sorted({m["round"] for m in cell}):
        a = _value(cell, round_no, driver)
        b = _value(cell, round_no, baseline)
        if a is not None and b:
            ratios.append(a / b)
    return median(ratios) if ratios else None


def _median_ratio_to_pgbench(
    cell: list[Measurement], driver: str, pgbench: list[dict[str, Any]]
) -> float | None:
    ratios = []
    for p in pgbench:
        if p["mode"] == "W1":
            value = _value(cell, p["round"], driver)
            if value is not None:
                ratios.append(value / p["tps"])
    return median(ratios) if ratios else None


def _value(cell: list[Measurement], round_no: int, driver: str) -> float | None:
    for m in cell:
        if m["round"] == round_no and m["driver"] == driver and m["status"] == "ok":
            return float(m["value"])
    return None


# -- rendering ------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


class _Notes:
    """Footnotes for n/a, error and not-like-for-like cells and for workloads' notes,
    numbered in order of use."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"


def render_markdown(result: dict[str, Any]) -> str:
    """The results as Markdown: throughput table, W1 latency table, footnotes."""
    summary = result["summary"]
    drivers: list[str] = result["drivers"]
    loops: list[str] = result["loops"]
    others = [d for d in drivers if d != BASELINE]
    notes = _Notes()
    head = ["Workload", "Loop", *drivers, *(f"{d} / {BASELINE}" for d in others)]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for workload in result["workloads"]:
        info = WORKLOADS[workload]
        for loop in loops:
            entry = summary[workload][loop]
            label = f"{workload} {info.title} ({info.unit})"
            if info.note:  # e.g. W3c: which call each driver ran
                label += " " + notes.mark(info.note)
            cells = [label, loop]
            for driver in drivers:
                cells.append(_cell(driver, entry["drivers"][driver], notes))
            for driver in others:
                cells.append(_ratio(entry["ratios"].get(f"{driver}/{BASELINE}")))
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(_latency_table(result, notes))
    if notes.texts:
        lines.append("")
        lines.extend(f"[{i}] {text}  " for i, text in enumerate(notes.texts, 1))
    return "\n".join(lines).rstrip() + "\n"


def _cell(driver: str, info: dict[str, Any], notes: _Notes) -> str:
    if info["status"] == "ok":
        text = _number(info["median"])
        if info["caveats"]:
            text += " " + notes.mark(f"{driver}: not like-for-like: " + "; ".join(info["caveats"]))
        if info["errors"]:
            text += " " + notes.mark(f"{driver}: some rounds failed: " + "; ".join(info["errors"]))
        return text
    return str(info["status"]) + " " + notes.mark(f"{driver}: {info['reason'] or info['status']}")


def _latency_table(result: dict[str, Any], notes: _Notes) -> list[str]:
    summary = result["summary"]
    if "W1" not in summary:
        return []
    pgbench = summary.get("pgbench", {})
    lines = [
        "| Driver (W1 latency) | Loop | p50 µs | p99 µs | W1 queries/s vs pgbench |",
        "|---|---|---:|---:|---:|",
    ]
    for driver in result["drivers"]:
        for loop in result["loops"]:
            entry = summary["W1"][loop]
            info = entry["drivers"][driver]
            ratio = entry.get("vs_pgbench", {}).get(driver)
            if info["status"] == "ok" and "p50_us" in info:
                lines.append(
                    f"| {driver} | {loop} | {info['p50_us']:.1f} | {info['p99_us']:.1f} "
                    f"| {_ratio(ratio)} |"
                )
            else:
                lines.append(f"| {driver} | {loop} | {info['status']} | | |")
    if pgbench:
        lines.append("")
        parts = []
        if "W1" in pgbench:
            parts.append(f"`SELECT :v::int` {_number(pgbench['W1']['tps'])} tps")
        if "S" in pgbench:
            parts.append(f"`-S` (built-in select-only) {_number(pgbench['S']['tps'])} tps")
        lines.append(
            "Reference: pgbench (C, libpq) `-M prepared -c 1` from the server's bindir: "
            + ", ".join(parts)
            + " (median of rounds)."
        )
    return lines
