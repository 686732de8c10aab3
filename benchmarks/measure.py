"""One measurement in a fresh process: ``python -m benchmarks.measure '<json spec>'``.

The spec names the driver, workload, event loop, DSN, sizes and options; the process
prints one JSON object on stdout: ``{"status": "ok", "value": ..., ...}``,
``{"status": "n/a", "reason": ...}`` or ``{"status": "error", "reason": ...}``.
Run by ``benchmarks.run``; a fresh process per measurement keeps one driver's imports,
caches and heap from touching another's figures.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Coroutine
from typing import Any

from benchmarks.drivers import Unsupported, WrongResult, run
from benchmarks.drivers.common import percentile
from benchmarks.workloads import Sizes

LOOPS = ("asyncio", "uvloop")


def run_on_loop(loop: str, coro: Coroutine[Any, Any, Any]) -> Any:
    if loop == "asyncio":
        return asyncio.run(coro)
    if loop == "uvloop":
        import uvloop

        return uvloop.run(coro)
    coro.close()
    raise ValueError(f"unknown event loop {loop!r}; choose from {', '.join(LOOPS)}")


async def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    sizes = Sizes.from_dict(spec["sizes"])
    sample = await run(spec["driver"], spec["workload"], spec["dsn"], sizes, spec["options"])
    result: dict[str, Any] = {
        "status": "ok",
        "value": sample.value,
        "count": sample.count,
        "seconds": sample.seconds,
        "caveats": sample.caveats,
        "loop_class": type(asyncio.get_running_loop()).__module__
        + "."
        + type(asyncio.get_running_loop()).__name__,
    }
    if sample.api:
        result["api"] = sample.api
    if sample.latencies_ns:
        result["p50_us"] = percentile(sample.latencies_ns, 0.50) / 1000
        result["p99_us"] = percentile(sample.latencies_ns, 0.99) / 1000
    return result


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        result: dict[str, Any] = run_on_loop(spec["loop"], _measure(spec))
        return result
    except Unsupported as exc:
        return {"status": "n/a", "reason": str(exc)}
    except NotImplementedError as exc:
        return {"status": "n/a", "reason": f"NotImplementedError: {exc}"}
    except ImportError as exc:
        return {"status": "n/a", "reason": f"cannot import: {exc}"}
    except WrongResult as exc:
        return {"status": "error", "reason": f"wrong result: {exc}"}
    except Exception as exc:
        traceback.print_exc()
        return {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.measure '<json spec>'", file=sys.stderr)
        return 2
    result = measure(json.loads(argv[0]))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
