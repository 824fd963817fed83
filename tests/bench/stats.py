"""Quantiles and summaries shared by the benchmarks (one definition, so every table means the same p50 and p90)."""

from __future__ import annotations

from typing import Any

__all__ = ["quantile", "summary"]


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (q=0.5 is the median)."""
    ordered, position = sorted(values), q * (len(values) - 1)
    low, high = int(position), min(int(position) + 1, len(values) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(samples: list[float], digits: int = 6) -> dict[str, Any]:
    """n, p50, p90, min, max and the samples themselves (rounded to `digits`)."""
    if not samples:
        return {"n": 0, "samples": []}
    return {"n": len(samples), "p50": quantile(samples, 0.5), "p90": quantile(samples, 0.9),
            "min": min(samples), "max": max(samples), "samples": [round(x, digits) for x in samples]}  # fmt: skip
