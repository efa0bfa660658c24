"""Tuning speed: ``hipflex tune``'s search over 60 minutes of 104 Hz recordings.

    .venv/bin/python benchmarks/bench_tune.py [--minutes 60] [--budget 200] [--jobs 2]
                                              [--out benchmarks/tune_results.md]

Simulates labelled recordings at 104 Hz (``hipflex.simulate.simulate``, the
exercises of the catalogue in turn, fixed seeds) into a temporary folder
until they add up to ``--minutes``, then times the same code path as
``hipflex tune`` (``tune.load_recordings`` + ``tune.tune``: attitude stage per
filter gain, every candidate replayed on every recording, leave-one-out
selection) with ``--budget`` parameter sets on ``--jobs`` worker processes.
Also times the plain streaming core on the same data (one parameter set) to
show what the split saves.
"""

import argparse
import os
import platform
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host"))

from hipflex import recording, tune  # noqa: E402
from hipflex.analyze import run_detector  # noqa: E402
from hipflex.core import profiles  # noqa: E402
from hipflex.simulate import simulate  # noqa: E402

EXERCISES = ("standing_march", "supine_march", "lying_leg_raise", "standing_knee_hold",
             "lunge", "mountain_climber", "bridge_march", "front_support_hip_flexion")


def make_corpus(outdir, minutes, exercise, rate=104):
    """Labelled 104 Hz recordings of about 5 minutes each (several sets
    with pauses); returns their paths."""
    paths = []
    total = 0.0
    i = 0
    while total < minutes * 60.0 - 1.0:
        dur = min(300.0, minutes * 60.0 - total)
        t, acc, gyr, lab = simulate(exercise, reps=None, seed=1000 + i, rate_hz=rate,
                                    duration=max(dur, 5.0))
        p = os.path.join(outdir, "%s_%02d.csv" % (exercise, i))
        recording.write(p, t, acc, gyr, lab)
        paths.append(p)
        total += float(t[-1] - t[0])
        i += 1
    return paths, total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--exercise", default="standing_march")
    ap.add_argument("--out", default=None, help="write the result as markdown here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.monotonic()
        paths, secs = make_corpus(d, args.minutes, args.exercise)
        t_sim = time.monotonic() - t0
        t0 = time.monotonic()
        recs, ex = tune.load_recordings(paths, args.exercise)
        t_read = time.monotonic() - t0
        n_samples = sum(len(r) for r in recs)
        # one parameter set through the plain streaming core, for scale
        t0 = time.monotonic()
        for r in recs:
            run_detector(r, profiles.get(ex))
        t_stream = time.monotonic() - t0
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        res = tune.tune(recs, ex, budget=args.budget, jobs=args.jobs)
        t_tune = time.monotonic() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_workers = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
        cpu_main = (s1.ru_utime + s1.ru_stime) - (s0.ru_utime + s0.ru_stime)
    lines = [
        "## Tuning speed (`hipflex tune`)",
        "",
        "Command: `.venv/bin/python benchmarks/bench_tune.py --minutes %g --budget %d --jobs %d`"
        % (args.minutes, args.budget, args.jobs),
        "",
        "| | |",
        "|---|---|",
        "| data | %d simulated %s recordings at 104 Hz, %.1f min, %d samples |"
        % (len(recs), ex, secs / 60.0, n_samples),
        "| parameter sets | %d (%d filter gains, so %d attitude passes per recording) |"
        % (res["candidates"], res["filter_gains"], res["filter_gains"]),
        "| worker processes | %d |" % args.jobs,
        "| **search + leave-one-out, wall time** | **%.1f s** (target: 60 s) |" % t_tune,
        "| CPU time in that stage | %.1f s in the workers, %.1f s in the main process |"
        % (cpu_workers, cpu_main),
        "| per parameter set and recorded hour | %.0f ms |"
        % (1000.0 * t_tune / res["candidates"] / (secs / 3600.0)),
        "| streaming core, one parameter set, one process | %.1f s (so %d sets would take "
        "about %.0f s on one core) |" % (t_stream, res["candidates"],
                                         t_stream * res["candidates"]),
        "| reading the CSV files (not in the figure above) | %.1f s |" % t_read,
        "| simulating them (not in the figure above) | %.1f s |" % t_sim,
        "| machine | %s, %s, %d cores, Python %s |"
        % (platform.machine(), platform.processor() or platform.system(), os.cpu_count() or 0,
           platform.python_version()),
        "",
        "Result of that run: held-out exact %d/%d before, %d/%d after."
        % (res["before"]["exact"], res["before"]["recordings"], res["held_out"]["exact"],
           res["held_out"]["recordings"]),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
