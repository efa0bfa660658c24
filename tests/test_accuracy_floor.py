"""Accuracy floors: the detector's accuracy cannot silently regress.

A small fresh simulated corpus (seed 4242, 52 Hz: two recordings of each of
eight exercises, one walking and one transitions recording) is scored with
each recording's own profile, as ``hipflex evaluate --exercise-from-labels``
does; the real reference recordings in ``../shared/reference`` (when present)
are scored with ``auto``.

The numbers below are FLOORS, set somewhat below what the detector achieved
when they were last measured (stated next to each), not targets: the issue's
targets are in BENCHMARKS.md. Raise them as the detector improves; never
lower one to make a change pass without saying why in the commit.
"""

import glob
import os

import pytest

from hipflex import recording
from hipflex.analyze import run_detector
from hipflex.core import profiles
from hipflex.evaluate import evaluate
from hipflex.simulate import generate_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.normpath(os.path.join(ROOT, "..", "shared", "reference"))

SEED = 4242
RATE = 52
EXERCISES = ("standing_march", "standing_knee_hold", "supine_march", "seated_leg_lift",
             "lying_leg_raise", "mountain_climber", "lunge", "side_lying_hold")
DISTRACTORS = ("walking", "transitions")

# Floors for the simulated corpus (18 recordings). Measured with the core of
# commit 1705853: exact 14/18 (78%), within +-1 15/18 (83%), F1 0.975,
# distractors 1.2 false reps/min (4 reps in 3.4 min, all in transitions);
# commit 16c8e14 gave 15/18, 16/18, 0.98 and 1.2; raised when the core that
# confirms a set's first rep gave 16/18, 17/18, 0.97 and 0.0. The core of
# commit 1e6e248 gave 16/18, 16/18, 0.98 and 0.9 (one transitions recording
# counts 3): exact raised to 15 of 18. With side-lying lifts that drift up
# allowed (18a4295): 17/18, 17/18, 1.00 and 0.9. With the posture and
# slow-lift rules of commit a1d4a22 and after: 17/18, 17/18, 1.00 and 0.6
# (one transitions recording counts 2): exact raised to 16 of 18. The hold,
# bias and stride rules of commits b1ff21a-163785c: 17/18, 17/18, 1.00, 0.6.
MIN_EXACT = 0.88          # at least 16 of 18 recordings counted exactly
MIN_WITHIN1 = 0.88        # at least 16 of 18 within +-1
MIN_F1 = 0.92
MAX_FALSE_PER_MIN = 1.0   # a ceiling: false reps per minute on the two distractors

# Floors for the real reference recordings, profile ``auto``. Measured with
# the core of commit 1705853: real/ 4 of 5 exact (walk_passes_right counts
# 3); realpt correct + fast: 2 of 6 exact, total count error 12 (8, 7, 10, 10,
# 6, 7 of 10 each; commit 16c8e14: 15); the realpt distractor (seated knee
# extension) 0 reps. Raised when the set-confirming core gave real/ 5 of 5
# and realpt count error 3 (8, 10, 10, 10, 9, 10). Raised again when the
# core that judges sub-min_rom reps inside a set (and restarts gravity at a
# gyro recalibration) gave real/ 5 of 5, realpt count error 0 and the
# distractor 0 (the target for it). The hold timing of b1ff21a let
# a quick lift after a first rep count (error 1); judging a held-back rep
# again with the rep after it (1db6f65) made it 0 again: ceiling 1.
MIN_REAL_EXACT = 5            # of the 5 files in real/
MAX_REALPT_COUNT_ERROR = 1    # sum of |counted - 10| over the 6 correct + fast files
MAX_REALPT_DISTRACTOR = 0
# The three low-amplitude realpt files with the small-range profile
# (``seated_leg_lift``): sum of |counted - 10|. Measured 8 (14, 11, 13) before
# the gyro-scale check voted on small quick lifts, 4 (13, 10, 11) after, 2
# (11, 10, 11) with the posture and slow-lift rules of commit a1d4a22, 1
# (10, 10, 11) with the gyro bias averaged over the steady time (6481012),
# 2 (11, 10, 9) once the rest is found again after a paused lowering
# (2f736d7; see README, Accuracy: these files are reported, not tuned for),
# 3 (12, 10, 9) once the seated profile sets the heading aside (yaw_reps 0:
# one 3-4 deg rep more in the first 20 s, while the gyro still over-reads).
MAX_REALPT_LOWAMP_ERROR = 3


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("floor_corpus"))
    generate_corpus(d, per_exercise=2, seed=SEED, rates=[RATE], exercises=EXERCISES)
    generate_corpus(d, per_exercise=1, seed=SEED, rates=[RATE], exercises=DISTRACTORS)
    files = sorted(glob.glob(os.path.join(d, "*.csv")))
    assert len(files) == 2 * len(EXERCISES) + len(DISTRACTORS)
    return evaluate(files, exercise_from_labels=True)


def _misses(res):
    return ", ".join("%s %d/%d" % (r["name"], r["counted"], r["true"])
                     for r in res["recordings"] if r["counted"] != r["true"])


def test_simulated_exact_count_floor(simulated):
    o = simulated["overall"]
    assert o["exact"] >= MIN_EXACT, "exact %.2f < floor %.2f; miscounted: %s" % (
        o["exact"], MIN_EXACT, _misses(simulated))
    assert o["within1"] >= MIN_WITHIN1, "within +-1 %.2f < floor %.2f; miscounted: %s" % (
        o["within1"], MIN_WITHIN1, _misses(simulated))


def test_simulated_f1_floor(simulated):
    o = simulated["overall"]
    assert o["f1"] is not None and o["f1"] >= MIN_F1, "F1 %s < floor %.2f (P %s, R %s)" % (
        o["f1"], MIN_F1, o["precision"], o["recall"])


def test_simulated_distractor_ceiling(simulated):
    fpm = simulated["overall"]["false_per_min"]
    assert fpm is not None
    assert fpm <= MAX_FALSE_PER_MIN, "%.2f false reps/min on the distractors > %.1f; %s" % (
        fpm, MAX_FALSE_PER_MIN, _misses(simulated))


def _counts(sub, names=None, profile="auto"):
    out = {}
    for f in sorted(glob.glob(os.path.join(REFERENCE, sub, "*.csv"))):
        name = os.path.basename(f)[:-4]
        if names is not None and not names(name):
            continue
        rec = recording.read(f)
        out[name] = (len(run_detector(rec, profiles.get(profile))), rec.labelled_count())
    return out


needs_reference = pytest.mark.skipif(not os.path.isdir(REFERENCE),
                                     reason="../shared/reference is absent")


@needs_reference
def test_real_recordings_floor():
    got = _counts("real")
    if not got:
        pytest.skip("no recordings in ../shared/reference/real")
    exact = sum(1 for c, t in got.values() if c == t)
    assert exact >= MIN_REAL_EXACT, "real/: %d of %d exact (floor %d): %s" % (
        exact, len(got), MIN_REAL_EXACT, got)


@needs_reference
def test_realpt_floor():
    got = _counts("realpt", lambda n: n.endswith(("_correct", "_fast")))
    dis = _counts("realpt", lambda n: "distractor" in n)
    if not got:
        pytest.skip("no recordings in ../shared/reference/realpt")
    err = sum(abs(c - t) for c, t in got.values())
    assert err <= MAX_REALPT_COUNT_ERROR, "realpt correct+fast: count error %d > %d: %s" % (
        err, MAX_REALPT_COUNT_ERROR, got)
    for name, (c, _) in dis.items():
        assert c <= MAX_REALPT_DISTRACTOR, "%s: %d reps (ceiling %d)" % (
            name, c, MAX_REALPT_DISTRACTOR)


@needs_reference
def test_realpt_low_amplitude_ceiling():
    got = _counts("realpt", lambda n: n.endswith("_low_amplitude"), "seated_leg_lift")
    if not got:
        pytest.skip("no low-amplitude recordings in ../shared/reference/realpt")
    err = sum(abs(c - t) for c, t in got.values())
    assert err <= MAX_REALPT_LOWAMP_ERROR, "realpt low amplitude: count error %d > %d: %s" % (
        err, MAX_REALPT_LOWAMP_ERROR, got)
