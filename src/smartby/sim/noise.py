"""Deterministic noise: a number in [0, 1) from a seed and a few integers (SplitMix64 mixing).

A reading's randomness comes from what it is (seed, device, time slot), not from the order values
are drawn in, so the same seed gives the same readings whether a run back-fills a week or streams
live, and whatever else the city holds.
"""

from __future__ import annotations

_MASK = (1 << 64) - 1


def _mix(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def unit(seed: int, *keys: int) -> float:
    """A uniform number in [0, 1) for these keys."""
    state = _mix(seed & _MASK)
    for key in keys:
        state = _mix(state ^ (key & _MASK))
    return (state >> 11) / float(1 << 53)


def spread(seed: int, *keys: int) -> float:
    """A number in [-1, 1), roughly bell-shaped (the mean of two uniforms)."""
    return unit(seed, *keys, 1) + unit(seed, *keys, 2) - 1.0
