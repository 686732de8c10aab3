"""What every driver implementation shares: results, "not supported yet", timing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


class Unsupported(Exception):
    """The driver cannot run this workload yet; the message says why (shown as n/a)."""


class WrongResult(Exception):
    """The driver returned something other than what the workload asked for."""


@dataclass
class Sample:
    """One measurement of one (driver, workload, loop), made in a fresh process."""

    value: float
    """Throughput in the workload's unit per second."""
    count: int = 0
    """Operations (queries, rows, repetitions...) timed."""
    seconds: float = 0.0
    """Time spent in the timed part."""
    latencies_ns: list[int] | None = None
    caveats: list[str] = field(default_factory=list)
    """Ways this result is not like-for-like (e.g. a type left undecoded)."""
    api: str = ""
    """The driver call timed, when drivers differ in it (W3c); recorded in the JSON."""


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: list[int], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


async def repeat(
    run_once: Callable[[], Awaitable[float]], min_time: float, min_reps: int, max_reps: int = 1000
) -> list[float]:
    """Call ``run_once`` (which returns the seconds it timed) until ``min_time`` seconds
    were timed in at least ``min_reps`` calls; return every call's seconds."""
    timings: list[float] = []
    while len(timings) < max_reps and (len(timings) < min_reps or sum(timings) < min_time):
        timings.append(await run_once())
    return timings


def rate_of_median(units: int, timings: list[float]) -> Sample:
    """Throughput of the median repetition (robust to one slow repetition, e.g. a GC)."""
    mid = median(timings)
    return Sample(value=units / mid, count=len(timings), seconds=sum(timings))


async def run_for(
    seconds: float, step: Callable[[int], Awaitable[Any]], warmup: float
) -> tuple[int, float]:
    """Call ``step(i)`` during ``warmup`` seconds untimed, then for ``seconds``; return
    (calls timed, seconds elapsed)."""
    clock = time.perf_counter
    end = clock() + warmup
    i = 0
    while clock() < end:
        await step(i)
        i += 1
    start = clock()
    end = start + seconds
    n = 0
    while clock() < end:
        await step(n)
        n += 1
    return n, clock() - start
