"""``hipflex label``: write the labels file of a recording.

Two ways:

* ``hipflex label FILE.csv --reps N [--hold S] [--exercise NAME]``: a user
  who counted their own reps writes a count-only label
  ``{"count": N, "reps": [], "exercise": NAME}`` (``hold_s`` when given);
  ``hipflex evaluate`` / ``tune`` score the count against it.
* ``hipflex label FILE.csv --interactive``: the detector's reps are shown one
  by one to confirm or reject; when the user says none were missed, the kept
  reps are written with their bounds, else a count-only label.
"""

import sys

from hipflex import recording
from hipflex.errors import UserError


def register(subparsers):
    p = subparsers.add_parser(
        "label", help="write a recording's labels file (your own rep count, or confirm "
        "detected reps)",
        description="Write NAME.labels.json next to a recording, so a recording you "
        "counted yourself can be used to tune and evaluate the detector.")
    p.add_argument("file", metavar="FILE.csv", help="recording")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--reps", type=int, metavar="N", help="number of reps you did")
    g.add_argument("--interactive", action="store_true",
                   help="go through the detected reps and confirm each")
    p.add_argument("--hold", type=float, metavar="S",
                   help="how long each rep was held at the top, seconds (recorded as hold_s)")
    p.add_argument("--exercise", metavar="NAME",
                   help="exercise done (a profile name; also the detector profile for "
                   "--interactive)")
    p.add_argument("--force", action="store_true",
                   help="replace a labels file that has rep bounds")
    p.set_defaults(func=cmd_label)


def _check_exercise(name):
    if name is None:
        return
    from hipflex.core import profiles
    if name not in profiles.NAMES:
        raise UserError("unknown exercise %r; choose one of: %s"
                        % (name, ", ".join(profiles.NAMES)))


def cmd_label(args):
    _check_exercise(args.exercise)
    if args.reps is not None and args.reps < 0:
        raise UserError("--reps must be 0 or more")
    if args.hold is not None and not (0 <= args.hold <= 600):
        raise UserError("--hold must be between 0 and 600 seconds")
    rec = recording.read(args.file)
    out = recording.labels_path(args.file)
    old = rec.labels
    if old and old.get("reps") and not args.force:
        raise UserError("%s already has %d labelled reps with bounds; pass --force to replace it"
                        % (out, len(old["reps"])))
    exercise = args.exercise or (old or {}).get("exercise")
    if args.interactive:
        labels = interactive(rec, exercise)
    else:
        labels = {"count": args.reps, "reps": []}
    if exercise:
        labels["exercise"] = exercise
    if args.hold is not None:
        labels["hold_s"] = args.hold
    labels["source"] = "user"
    try:
        recording.write_labels(out, labels)
    except OSError as e:
        raise UserError("cannot write %s: %s" % (out, e.strerror))
    n = len(labels["reps"]) if labels["reps"] else labels["count"]
    kind = "with rep bounds" if labels["reps"] else "count only"
    print("wrote %s: %d rep%s (%s)" % (out, n, "" if n == 1 else "s", kind))
    return 0


def _ask(prompt):
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise UserError("no answer on stdin; --interactive needs a terminal (or answers piped in)")
    return line.strip().lower()


def interactive(rec, exercise):
    from hipflex.analyze import run_detector
    from hipflex.core import profiles
    reps = run_detector(rec, profiles.get(exercise or "auto"))
    print("%s: %.1f s, detector (%s) found %d rep%s. Answer y (default) / n for each; "
          "q stops and rejects the rest." % (rec.name, rec.duration, exercise or "auto",
                                              len(reps), "" if len(reps) == 1 else "s"))
    kept = []
    for i, r in enumerate(reps):
        a = _ask("rep %d/%d: %.2f-%.2f s (peak %.2f s), ROM %.1f deg, hold %.1f s. Real rep? "
                 "[Y/n/q] " % (i + 1, len(reps), r.start_ms / 1000.0, r.end_ms / 1000.0,
                               r.peak_ms / 1000.0, r.rom_deg, r.hold_ms / 1000.0))
        if a in ("q", "quit"):
            break
        if a in ("", "y", "yes"):
            kept.append(r)
        elif a not in ("n", "no"):
            raise UserError("answer y, n or q (got %r)" % a)
    while True:
        a = _ask("How many real reps did the detector miss? [0] ")
        try:
            missed = int(a or "0")
            if missed >= 0:
                break
        except ValueError:
            pass
        print("a whole number, 0 or more")
    if missed:
        return {"count": len(kept) + missed, "reps": []}
    return {"count": len(kept),
            "reps": [{"start": r.start_ms / 1000.0, "peak": r.peak_ms / 1000.0,
                      "end": r.end_ms / 1000.0, "hold": r.hold_ms / 1000.0,
                      "rom_deg": round(r.rom_deg, 1)} for r in kept]}
