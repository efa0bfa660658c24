"""Counts, ranges and holds do not depend on the output data rate: one
simulated recording at 208 Hz, decimated to 104, 52 and 26 Hz the way the
sensor's own averaging filter would (mean of k samples), gives the same reps.

The core steps on a fixed 40 ms time grid, so the decisions are the same at
any rate; what differs is only the sensor noise left after averaging, and a
fast rep's peak seen on a coarser sample grid. Asserted: the same count; the
median rep's range within 2 deg and hold within 0.1 s; every rep within 6 deg
and 0.4 s. Lifts of a few degrees (the small-range profile) are not covered:
there the noise left after averaging decides marginal reps."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hipflex.analyze import run_detector
from hipflex.core import profiles
from hipflex.recording import Recording
from hipflex.simulate import simulate


def decimate(t, acc, gyr, k):
    n = len(t) // k * k
    return (t[k - 1:n:k], acc[:n].reshape(-1, k, 3).mean(1), gyr[:n].reshape(-1, k, 3).mean(1))


@settings(max_examples=8, deadline=None, derandomize=True)
@given(st.sampled_from(["standing_knee_hold", "lying_leg_raise", "side_lying_hold",
                        "supine_march", "standing_march", "mountain_climber"]),
       st.integers(min_value=0, max_value=10_000))
# (at 26 Hz a sample 43 ms late ran two detector steps in one call and lost
# the rep the first one handed out; a knee hold that gave way a tick before
# it would have been remembered became a new posture)
@example("supine_march", 106)
@example("standing_knee_hold", 104)
def test_same_reps_at_26_52_104_and_208_hz(exercise, seed):
    t, acc, gyr, lab = simulate(exercise, seed=seed, rate_hz=208, session=False)
    prof = profiles.get(exercise)
    runs = []
    for k in (1, 2, 4, 8):              # 208, 104, 52, 26 Hz
        reps = run_detector(Recording(*decimate(t, acc, gyr, k)), prof)
        runs.append(reps)
    counts = [len(r) for r in runs]
    assert len(set(counts)) == 1, counts
    for reps in runs[1:]:
        for a, b in zip(runs[0], reps):
            # (the peak of a held rep may be anywhere along the hold)
            assert abs(a.start_ms - b.start_ms) <= 400 and abs(a.end_ms - b.end_ms) <= 400
            assert abs(a.rom_deg - b.rom_deg) <= 6.0, (a, b)
            assert abs(a.hold_ms - b.hold_ms) <= 400, (a, b)
    # and on the median rep the figures agree closely
    for reps in runs[1:]:
        if reps:
            d_rom = np.median([abs(a.rom_deg - b.rom_deg) for a, b in zip(runs[0], reps)])
            d_hold = np.median([abs(a.hold_ms - b.hold_ms) for a, b in zip(runs[0], reps)])
            assert d_rom <= 2.0 and d_hold <= 100
