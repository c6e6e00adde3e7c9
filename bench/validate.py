"""How fast is a full validation of an MLA request, against a bare pydantic parse of it?

Prints validations per second for the full check (parse + every rule) and for the baseline
(`Draft.model_validate` of the same document, measured in the same run), their ratio, and one
line of JSON with the figures and the target (a full validation under 1 ms).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from collections.abc import Callable
from importlib import resources

from hcx.domain.model import Draft
from hcx.domain.validation import validate
from hcx.rules import load_rules

TARGET_MS = 1.0


def rate(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    """(calls per second, p99 latency in ms) over repeated batches."""
    batch, timings = 200, []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        timings.append((time.perf_counter() - start) / batch)
    per_call = statistics.median(timings)
    p99 = sorted(timings)[int(len(timings) * 0.99) - 1 if len(timings) > 1 else 0]
    return 1 / per_call, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s per measurement instead of 10")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 10.0
    rules = load_rules()
    document = json.loads((resources.files("hcx") / "examples" / "mutual_legal_assistance.json").read_text("utf-8"))
    today = dt.date(2026, 11, 23)
    assert not [f for f in validate(Draft.model_validate(document), rules, today=today) if f.severity == "error"]

    baseline, _ = rate(lambda: Draft.model_validate(document), seconds)
    full, p99_ms = rate(lambda: validate(Draft.model_validate(document), rules, today=today), seconds)
    mean_ms = 1000 / full
    print(f"bare pydantic model_validate : {baseline:10,.0f} /s")
    print(f"full validation (all rules)  : {full:10,.0f} /s  = {mean_ms:.3f} ms each (batch p99 {p99_ms:.3f} ms)")
    print(f"ratio full / baseline        : {full / baseline:.3f}")
    print(json.dumps({"bench": "validate", "full_per_s": round(full), "baseline_per_s": round(baseline),
                      "ratio": round(full / baseline, 4), "full_ms": round(mean_ms, 4), "p99_ms": round(p99_ms, 4),
                      "target_full_ms": TARGET_MS, "met": mean_ms < TARGET_MS}))


if __name__ == "__main__":
    main()
