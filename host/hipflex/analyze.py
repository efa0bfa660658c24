"""``hipflex analyze``: run the shared detection core over a recording."""

import json
import os

from hipflex import recording
from hipflex.core import profiles
from hipflex.core.detector import Detector
from hipflex.errors import UserError


def resolve_params(exercise="auto", config=None, overrides=None):
    """Parameters for ``exercise``, then a profile file, then explicit overrides."""
    try:
        params = profiles.get(exercise or "auto")
    except KeyError:
        raise UserError("unknown exercise %r; choose one of: %s"
                        % (exercise, ", ".join(profiles.NAMES)))
    if config:
        from hipflex.profile_file import load_profile
        exercise_cfg, cfg = load_profile(config)
        if exercise_cfg and not exercise:
            params = profiles.get(exercise_cfg)
        params.update(cfg)
    if overrides:
        for k, v in overrides.items():
            if k not in profiles.DEFAULTS:
                raise UserError("unknown parameter %r; known: %s"
                                % (k, ", ".join(sorted(profiles.DEFAULTS))))
            params[k] = int(v)
    return params


def detect(samples, params=None):
    """Run the streaming core over ``(t_ms, ax, ay, az, gx, gy, gz)``
    samples; returns the list of Rep (a rep still waiting at the end
    included)."""
    det = Detector(params)
    return collect(det, det.update, samples)


def collect(det, step, rows):
    """Feed ``rows`` to ``step`` (``det.update`` for samples, ``det.decide``
    for a recorded attitude stream), then flush: the list of Rep."""
    reps = []
    for row in rows:
        r = step(*row)
        if r is not None:
            reps.append(r)
    r = det.flush()
    while r is not None:
        reps.append(r)
        r = det.flush()
    return reps


def run_detector(rec, params=None):
    """Run the streaming core over a Recording; returns the list of Rep."""
    return detect(rec.samples(), params)


class _Tracer(Detector):
    """A Detector that keeps, for plots, the excursion at every step."""

    def __init__(self, params=None):
        super().__init__(params)
        self.ts, self.angs, self.holds = [], [], []

    def decide(self, t, *args):
        r = super().decide(t, *args)
        self.ts.append(t / 1000.0)
        self.angs.append(self.angle_deg)
        self.holds.append(self.holding)
        return r


def trace(rec, params=None):
    """Per-step trace for plots: lists of (t_s, angle_deg, holding)."""
    det = _Tracer(params)
    for s in rec.samples():
        det.update(*s)
    return det.ts, det.angs, det.holds


def reps_to_json(reps):
    """Reps as JSON-ready dicts (times in s on the recording's clock)."""
    return [{"start": r.start_ms / 1000.0, "peak": r.peak_ms / 1000.0,
             "end": r.end_ms / 1000.0, "rom_deg": round(r.rom_deg, 2),
             "hold_s": round(r.hold_ms / 1000.0, 3)} for r in reps]


def summary_line(reps):
    if not reps:
        return "0 reps"
    rom = sum(r.rom_deg for r in reps) / len(reps)
    holds = [r.hold_ms / 1000.0 for r in reps if r.hold_ms >= 1000]
    s = "%d reps, mean ROM %.0f deg" % (len(reps), rom)
    if holds:
        s += ", %d holds (longest %.1f s, total %.1f s)" % (len(holds), max(holds), sum(holds))
    else:
        s += ", no holds"
    return s


def add_detector_args(p):
    p.add_argument("--exercise", "-e", default=None, metavar="NAME",
                   help="exercise profile (default: auto). One of: " + ", ".join(profiles.NAMES))
    p.add_argument("--config", metavar="FILE",
                   help="profile file written by 'hipflex tune' (TOML)")
    p.add_argument("--min-rom", type=int, metavar="DEG",
                   help="override the smallest range of motion that counts (deg)")
    p.add_argument("--units", choices=("auto", "ms2", "g"), default="auto",
                   help="accelerometer units in the file (default: m/s^2, refusing data that looks like g)")


def params_from_args(args):
    ov = {}
    if getattr(args, "min_rom", None) is not None:
        ov["min_rom_deg"] = args.min_rom
        ov["entry_deg"] = max(1, min(args.min_rom * 6 // 10, profiles.get(args.exercise or "auto")["entry_deg"]))
    return resolve_params(args.exercise, getattr(args, "config", None), ov)


def cmd_analyze(args):
    params = params_from_args(args)
    rec = recording.read(args.file, units=args.units)
    reps = run_detector(rec, params)
    if args.json:
        out = {"file": args.file, "exercise": args.exercise or "auto", "count": len(reps),
               "reps": reps_to_json(reps), "duration_s": round(rec.duration, 3),
               "rate_hz": round(rec.rate_hz, 2)}
        n = rec.labelled_count()
        if n is not None:
            out["labelled_count"] = n
        print(json.dumps(out))
        return 0
    print("%s  (%.0f s at %.0f Hz, profile %s)" % (os.path.basename(args.file), rec.duration,
                                                   rec.rate_hz, args.exercise or "auto"))
    if reps:
        print("  #   start    peak     end    ROM   hold")
        for r in reps:
            print("%3d %7.2f %7.2f %7.2f %5.0f° %5.1fs" % (
                r.index, r.start_ms / 1000.0, r.peak_ms / 1000.0, r.end_ms / 1000.0,
                r.rom_deg, r.hold_ms / 1000.0))
    line = summary_line(reps)
    n = rec.labelled_count()
    if n is not None:
        line += "  (labelled: %d)" % n
    print(line)
    return 0


def register(sub):
    p = sub.add_parser("analyze", help="count reps and holds in a recording",
                       description="Run the detection core (the same code as on the board) over a "
                       "recording (CSV: t,ax,ay,az,gx,gy,gz in s, m/s^2, rad/s) and list the reps.")
    p.add_argument("file", help="recording .csv")
    add_detector_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_analyze)
