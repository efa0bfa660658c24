"""Physically based thigh-IMU simulator and labelled corpus generator.

Python API::

    t, acc, gyr, labels = simulate("standing_march", reps=10, seed=1, rate_hz=104)

``t`` [s] (N,), ``acc`` (N, 3) specific force [m/s^2] as an accelerometer
measures it (+9.81 along "up" at rest), ``gyr`` (N, 3) [rad/s], both in the
sensor frame. ``labels`` is the ``NAME.labels.json`` content: exercise,
``"source": "simulated"``, the generator ``params`` and one entry per real
sensor-leg repetition with ``start``/``peak``/``end`` [s], ``hold`` [s] and
``rom_deg`` (peak change of the thigh direction from its rest direction,
relative to the body).

Command line::

    hipflex simulate EXERCISE [--reps N] [--seed S] [--rate HZ] [--duration S] ... -o FILE.csv
    hipflex simulate --corpus OUTDIR [--per-exercise N] [--seed S]

How it works: a session builder lays out still periods, posture transitions,
walking, fidgets and the set (:mod:`hipflex.sim.exercises`); the thigh is a
rigid segment rotating about the hip with body motion and soft-tissue wobble
on top (:mod:`hipflex.sim.kinematics`); an LSM6DS-style sensor model samples,
filters, adds errors, quantises and time-stamps (:mod:`hipflex.sim.sensor`).
All randomness comes from ``numpy.random.default_rng(seed)``.
"""

import math
import os

import numpy as np

from hipflex.errors import UserError
from hipflex.sim import kinematics, sensor
from hipflex.sim.exercises import (DISTRACTORS, EXERCISES, NAMES, draw_options,
                                   exercise_session, transitions_session, walking_session)
from hipflex.sim.rotations import angle_between

RATES = (26, 52, 104, 208)

# option name -> short description (also the CLI help)
OPTIONS = {
    "posture": "starting posture for the set (e.g. chair or floor_seated for seated_leg_lift)",
    "leg": "sensor leg: left or right",
    "alternating": "alternate legs (the sensor leg does every other rep)",
    "session": "add still periods, getting into position, getting up, walking",
    "quirks": "True/False forces every real-people behaviour on/off (default: random mix)",
    "tempo": "duration multiplier for rise/hold-free phases (>1 slower)",
    "fatigue": "0..1: amplitude drop and slowing across the set",
    "rom_deg": "mean excursion of the thigh per rep [deg]",
    "hold_s": "mean hold at the top [s]",
    "slow_hold": "slow lifts (2-4 s up and down), 15-25 deg, held 3-6 s",
    "axial_deg": "axial (turn-out) rotation of the thigh during the lift [deg]",
    "abduction_deg": "abduction drift during the lift [deg]",
    "rest_drift_deg": "rest pose drift between reps (sd) [deg]; a leg lowered onto a seat "
                      "or mat lands within 2 deg of its first rest and drifts sideways",
    "reposition": "end-of-set repositioning (shift, slide leg, turn foot)",
    "pause_down": "some lowerings stop part way (30-60 percent of the range up) for 0.5-2 s",
    "hold_wobble": "long holds (4 s or more) may give way once or twice: a 10-30 percent "
                   "drop and back within 1.5 s",
    "fidgets": "small quick movements during still periods",
    "still_start_s": "still time at the start [s]",
    "body_motion": "scale of sway, rocking, swing, tremor and soft-tissue wobble (0 = none)",
    "ideal": "ideal sensor: no noise, bias, scale error, quantisation, clipping, jitter or drops",
    "accel_fs_g": "accelerometer full scale [g]: 2, 4, 8 or 16",
    "gyro_fs_dps": "gyroscope full scale [dps]: 125, 250, 500, 1000 or 2000",
    "strap_side_deg": "strap position around the thigh [deg]: 0 front, 90 outer side, 180 back",
    "sensor_distance_m": "sensor distance down the thigh from the hip [m]",
    "mount_deg": "extra rotation (rx, ry, rz) of the sensor frame about its own axes [deg]",
}

MAX_RATE_HZ = 833.0


class SimulateError(UserError, ValueError):
    """Bad simulator input (one-line message)."""


def _fine_rate(rate_hz):
    return 500.0 if rate_hz <= 125 else float(4 * int(math.ceil(rate_hz)))


def _check(exercise, reps, rate_hz, duration, options):
    if exercise not in NAMES:
        raise SimulateError("unknown exercise %r; choose one of: %s" % (exercise, ", ".join(NAMES)))
    bad = sorted(set(options) - set(OPTIONS))
    if bad:
        raise SimulateError("unknown simulator option(s): %s" % ", ".join(bad))
    if reps is not None and (int(reps) != reps or reps < 0 or reps > 500):
        raise SimulateError("reps must be an integer from 0 to 500, got %r" % (reps,))
    if reps is not None and exercise in DISTRACTORS and reps:
        raise SimulateError("%s has no reps; leave --reps out" % exercise)
    if not (isinstance(rate_hz, (int, float)) and 5.0 <= rate_hz <= MAX_RATE_HZ):
        raise SimulateError("rate must be between 5 and %g Hz, got %r" % (MAX_RATE_HZ, rate_hz))
    if duration is not None and not (5.0 <= duration <= 3600.0):
        raise SimulateError("duration must be between 5 and 3600 s, got %r" % (duration,))
    leg = options.get("leg")
    if leg is not None and leg not in ("left", "right"):
        raise SimulateError("leg must be left or right, got %r" % (leg,))
    posture = options.get("posture")
    if posture is not None and exercise in EXERCISES:
        ok = EXERCISES[exercise]["postures"]
        if posture not in ok:
            raise SimulateError("posture %r does not fit %s; use %s" % (posture, exercise, ", ".join(ok)))
    for key, lo, hi in (("tempo", 0.2, 5.0), ("fatigue", 0.0, 1.0), ("rom_deg", 1.0, 130.0),
                        ("hold_s", 0.0, 120.0), ("axial_deg", 0.0, 45.0),
                        ("abduction_deg", 0.0, 30.0), ("rest_drift_deg", 0.0, 10.0),
                        ("still_start_s", 0.0, 60.0), ("body_motion", 0.0, 5.0),
                        ("sensor_distance_m", 0.05, 0.45)):
        v = options.get(key)
        if v is not None and not (lo <= float(v) <= hi):
            raise SimulateError("%s must be between %g and %g, got %r" % (key, lo, hi, v))
    md = options.get("mount_deg")
    if md is not None and len(md) != 3:
        raise SimulateError("mount_deg needs three angles (rx, ry, rz) in degrees")
    for key, table in (("accel_fs_g", sensor.ACC_LSB_MG), ("gyro_fs_dps", sensor.GYR_LSB_MDPS)):
        v = options.get(key)
        if v is not None and int(v) not in table:
            raise SimulateError("%s must be one of %s" % (key, ", ".join(str(k) for k in sorted(table))))


def _build(exercise, n_reps, o, seed_body, fs, duration):
    rng = np.random.default_rng(seed_body)
    if exercise == "walking":
        return walking_session(o, rng, fs, duration)
    if exercise == "transitions":
        return transitions_session(o, rng, fs, duration)
    return exercise_session(exercise, n_reps, o, rng, fs, duration)


def simulate(exercise, reps=None, seed=0, rate_hz=104, duration=None, **options):
    """Simulate one recording of ``exercise``.

    ``reps``: number of sensor-leg repetitions (default: typical for the
    exercise); ``seed``: integer, same seed -> identical output; ``rate_hz``:
    output data rate [Hz] (26/52/104/208 are the LSM6DS rates used here);
    ``duration`` [s]: session length (padded with still time; reps are reduced
    when they do not fit and ``reps`` is not given). ``options``: see
    :data:`OPTIONS`; any option left out is drawn at random from ``seed``.

    Returns ``(t, acc, gyr, labels)``: times [s], specific force [m/s^2] and
    angular rate [rad/s] in the sensor frame, and the labels dict.
    """
    options = {k: v for k, v in options.items() if v is not None}
    _check(exercise, reps, rate_hz, duration, options)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2 ** 62, size=6)
    r_opt, r_mount, r_kin, r_sens = (np.random.default_rng(int(s)) for s in seeds[:4])
    spec = EXERCISES.get(exercise)
    default_reps = int(r_opt.integers(spec["reps"][0], spec["reps"][1] + 1)) if spec else 0
    try:
        o = draw_options(exercise, r_opt, options)
    except ValueError as e:
        raise SimulateError(str(e))
    n_reps = int(reps) if reps is not None else default_reps
    if reps is None and o.get("slow_hold"):
        n_reps = min(n_reps, 6)   # slow reps take 8-15 s each
    fs = _fine_rate(float(rate_hz))
    b = None
    for attempt in range(40):
        b = _build(exercise, n_reps, o, int(seeds[4]) + attempt, fs, duration)
        if duration is None or b.t <= duration + 0.5 or exercise in DISTRACTORS:
            break
        if o["session"] and (reps is not None or n_reps <= 2):
            o["session"] = False
        elif reps is None and n_reps > 1:
            n_reps -= 1
        else:
            raise SimulateError("%d reps of %s do not fit in %g s (need about %.0f s)"
                                % (n_reps, exercise, duration, b.t))
    if duration is not None and exercise in DISTRACTORS:
        b.truncate(duration)
    leg = o["leg"]
    mount = kinematics.draw_mount(r_mount, leg, o)
    fine = kinematics.synthesize(b, leg, mount, r_kin, body_motion=o["body_motion"])
    sp = sensor.draw_sensor(r_sens, o, b.t)
    t, acc, gyr, _ = sensor.sample(fine, float(rate_hz), sp, r_sens, ideal=bool(o.get("ideal")))
    if o.get("ideal"):
        sp = dict(ideal=True)
    reps_out = []
    d = fine["d_clean"]
    for r in b.reps:
        i0 = int(round(r["start"] * fs))
        i1 = int(round(r["end"] * fs))
        rom = float(np.degrees(angle_between(d[i0:i1 + 1], d[i0]).max()))
        reps_out.append(dict(start=round(r["start"], 3), peak=round(r["peak"], 3),
                             end=round(r["end"], 3), hold=round(r["hold"], 3),
                             rom_deg=round(rom, 1)))
    params = dict(seed=int(seed), rate_hz=rate_hz, duration_s=round(float(t[-1]), 3),
                  n_reps=len(reps_out))
    for k in sorted(o):
        v = o[k]
        params[k] = round(v, 3) if isinstance(v, float) else v
    if "mount_deg" in params:
        params["mount_deg"] = [float(v) for v in params["mount_deg"]]
    params["mount"] = mount
    params["sensor"] = sp
    params["soft_tissue"] = fine["tissue"]
    params["events"] = ["%.2f %s" % (tt, txt) for tt, txt in b.notes]
    labels = {"exercise": exercise, "source": "simulated", "params": params, "reps": reps_out}
    return t, acc, gyr, labels


def simulate_to_file(path, exercise, reps=None, seed=0, rate_hz=104, duration=None,
                     decimals=5, **options):
    """Simulate and write ``path`` (.csv) plus its ``.labels.json``; returns the labels."""
    from hipflex import recording
    t, acc, gyr, labels = simulate(exercise, reps=reps, seed=seed, rate_hz=rate_hz,
                                   duration=duration, **options)
    recording.write(str(path), t, acc, gyr, labels, decimals=decimals)
    return labels


def generate_corpus(outdir, per_exercise=3, seed=0, rates=None, decimals=4, progress=False,
                    exercises=None, options=None):
    """Write ``per_exercise`` recordings of every exercise and distractor to ``outdir``.

    Variants differ in seed (hence mounting, leg, tempo, behaviours), posture
    (cycling through each exercise's postures) and output rate (cycling
    through ``rates``, default 26/52/104/208 Hz). ``options`` (see OPTIONS;
    not ``posture``) are set in every recording instead of drawn. Files are
    named ``EXERCISE_NN_RATEhz.csv``. Returns a list of summary dicts (path,
    exercise, rate_hz, reps, duration_s, bytes).
    """
    options = dict(options or {})
    if "posture" in options:
        raise SimulateError("a posture fits one exercise, not a whole corpus")
    rates = tuple(rates) if rates else RATES
    names = tuple(exercises) if exercises else NAMES
    for r in rates:
        if not 5 <= r <= MAX_RATE_HZ:
            raise SimulateError("bad rate %r" % (r,))
    os.makedirs(str(outdir), exist_ok=True)
    master = np.random.default_rng(seed)
    jobs = []
    for j, ex in enumerate(names):
        if ex not in NAMES:
            raise SimulateError("unknown exercise %r" % (ex,))
        postures = EXERCISES[ex]["postures"] if ex in EXERCISES else (None,)
        for i in range(per_exercise):
            s = int(master.integers(0, 2 ** 31))
            rate = rates[(i + j) % len(rates)]
            jobs.append((ex, i, s, rate, postures[i % len(postures)]))
    out = []
    bar = None
    if progress:
        from rich.progress import Progress
        bar = Progress(transient=False)
        bar.start()
        task = bar.add_task("simulating", total=len(jobs))
    try:
        for ex, i, s, rate, posture in jobs:
            path = os.path.join(str(outdir), "%s_%02d_%dhz.csv" % (ex, i, rate))
            labels = simulate_to_file(path, ex, seed=s, rate_hz=rate, decimals=decimals,
                                      posture=posture, **options)
            out.append(dict(path=path, exercise=ex, rate_hz=rate, reps=len(labels["reps"]),
                            duration_s=labels["params"]["duration_s"],
                            bytes=os.path.getsize(path)))
            if bar is not None:
                bar.update(task, advance=1, description="%s" % os.path.basename(path))
    finally:
        if bar is not None:
            bar.stop()
    return out


# -- command line -------------------------------------------------------------

def register(subparsers):
    import argparse
    p = subparsers.add_parser(
        "simulate", help="simulate a labelled recording (or a corpus)",
        description="Simulate a thigh-IMU recording of EXERCISE with labels, or a whole "
        "labelled corpus with --corpus. Exercises: " + ", ".join(NAMES) + ".")
    p.add_argument("exercise", nargs="?", metavar="EXERCISE", help="exercise or distractor name")
    p.add_argument("-o", "--output", metavar="FILE.csv", help="recording to write (+ FILE.labels.json)")
    p.add_argument("--reps", type=int, help="sensor-leg repetitions (default: typical)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--rate", type=float, default=104, metavar="HZ",
                   help="output data rate in Hz: 26, 52, 104 or 208 (default 104)")
    p.add_argument("--duration", type=float, metavar="S", help="session length in seconds")
    p.add_argument("--decimals", type=int, default=5, help="decimals in the CSV (default 5)")
    p.add_argument("--corpus", metavar="OUTDIR", help="write a corpus of every exercise instead "
                   "(the motion and sensor options below then apply to every recording)")
    p.add_argument("--per-exercise", type=int, default=3, metavar="N",
                   help="recordings per exercise with --corpus (default 3)")
    p.add_argument("--rates", metavar="HZ,HZ", help="output rates the corpus cycles through "
                   "(default 26,52,104,208)")
    g = p.add_argument_group("motion and sensor options (default: random from the seed)")
    g.add_argument("--posture", help=OPTIONS["posture"])
    g.add_argument("--leg", choices=("left", "right"), help=OPTIONS["leg"])
    bo = argparse.BooleanOptionalAction
    g.add_argument("--alternating", action=bo, default=None, help=OPTIONS["alternating"])
    g.add_argument("--session", action=bo, default=None, help=OPTIONS["session"])
    g.add_argument("--quirks", action=bo, default=None, help=OPTIONS["quirks"])
    g.add_argument("--slow-hold", action=bo, default=None, help=OPTIONS["slow_hold"])
    g.add_argument("--reposition", action=bo, default=None, help=OPTIONS["reposition"])
    g.add_argument("--pause-down", action=bo, default=None, help=OPTIONS["pause_down"])
    g.add_argument("--hold-wobble", action=bo, default=None, help=OPTIONS["hold_wobble"])
    g.add_argument("--fidgets", action=bo, default=None, help=OPTIONS["fidgets"])
    g.add_argument("--ideal", action="store_true", default=None, help=OPTIONS["ideal"])
    for flag, key, typ in (("--tempo", "tempo", float), ("--fatigue", "fatigue", float),
                           ("--rom", "rom_deg", float), ("--hold", "hold_s", float),
                           ("--axial-rotation", "axial_deg", float),
                           ("--abduction", "abduction_deg", float),
                           ("--rest-drift", "rest_drift_deg", float),
                           ("--still-start", "still_start_s", float),
                           ("--body-motion", "body_motion", float),
                           ("--accel-fs", "accel_fs_g", int), ("--gyro-fs", "gyro_fs_dps", int),
                           ("--strap-side", "strap_side_deg", float),
                           ("--sensor-distance", "sensor_distance_m", float)):
        g.add_argument(flag, dest=key, type=typ, help=OPTIONS[key])
    g.add_argument("--mount", dest="mount_deg", type=float, nargs=3, metavar=("RX", "RY", "RZ"),
                   help=OPTIONS["mount_deg"])
    p.set_defaults(func=run)


def run(args):
    if args.corpus:
        if args.exercise:
            raise UserError("give either EXERCISE or --corpus, not both")
        if args.per_exercise < 1:
            raise UserError("--per-exercise must be at least 1")
        for flag, v in (("-o", args.output), ("--reps", args.reps), ("--duration", args.duration),
                        ("--posture", args.posture)):
            if v is not None:
                raise UserError("%s applies to one recording; leave it out with --corpus "
                                "(or simulate that exercise alone)" % flag)
        return _run_corpus(args)
    if not args.exercise:
        raise UserError("simulate needs an EXERCISE (one of: %s) or --corpus OUTDIR"
                        % ", ".join(NAMES))
    if args.exercise not in NAMES:
        raise UserError("unknown exercise %r; choose one of: %s" % (args.exercise, ", ".join(NAMES)))
    if not args.output:
        raise UserError("simulate needs -o FILE.csv")
    if not args.output.endswith(".csv"):
        raise UserError("output must end in .csv, got %r" % args.output)
    if not 0 <= args.decimals <= 9:
        raise UserError("--decimals must be 0-9")
    opts = {k: getattr(args, k) for k in OPTIONS}
    rate = int(args.rate) if float(args.rate).is_integer() else args.rate
    try:
        labels = simulate_to_file(args.output, args.exercise, reps=args.reps, seed=args.seed,
                                  rate_hz=rate, duration=args.duration, decimals=args.decimals,
                                  **opts)
    except OSError as e:
        raise UserError("cannot write %s: %s" % (args.output, e.strerror or e))
    p = labels["params"]
    from hipflex.recording import labels_path
    print("wrote %s (%s, %.1f s at %s Hz, %d reps) and %s"
          % (args.output, args.exercise, p["duration_s"], p["rate_hz"], len(labels["reps"]),
             labels_path(args.output)))
    return 0


def _run_corpus(args):
    rates = None
    if args.rates:
        try:
            rates = [int(x) for x in args.rates.split(",") if x.strip()]
        except ValueError:
            raise UserError("--rates must be comma-separated integers, e.g. 26,52")
        if not rates:
            raise UserError("--rates is empty")
    try:
        opts = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
        res = generate_corpus(args.corpus, args.per_exercise, args.seed, rates=rates,
                              decimals=min(args.decimals, 4), progress=True, options=opts)
    except OSError as e:
        raise UserError("cannot write to %s: %s" % (args.corpus, e.strerror or e))
    total = sum(r["bytes"] for r in res)
    reps = sum(r["reps"] for r in res)
    dur = sum(r["duration_s"] for r in res)
    print("wrote %d recordings to %s: %d labelled reps, %.0f s of data, %.1f MB"
          % (len(res), args.corpus, reps, dur, total / 1e6))
    by = {}
    for r in res:
        by.setdefault(r["exercise"], []).append(r)
    for ex, rs in by.items():
        print("  %-26s %d files, %3d reps, rates %s Hz"
              % (ex, len(rs), sum(r["reps"] for r in rs),
                 "/".join(str(r["rate_hz"]) for r in rs)))
    return 0

