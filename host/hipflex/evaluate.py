"""``hipflex evaluate``: score the detector on labelled recordings.

Definitions (also in the README, so anyone scores the same way):

* **exact**: detected count equals the labelled count; **within +-1** likewise.
* **count MAE**: mean absolute difference between detected and labelled counts.
* **precision / recall / F1**: detected reps are matched one-to-one to
  labelled reps; a detected rep matches a labelled rep when its peak time
  lies inside the labelled rep's [start, end] interval (greedy, in time
  order, each labelled rep used once). Only recordings whose labels carry rep
  bounds enter these; count-only labels (``{"count": N, "reps": []}``) enter
  the count metrics only.
* **hold MAE**: mean absolute error of the detected hold over matched reps
  whose labelled hold is at least 1 s.
* **false reps per minute**: detected reps per minute on recordings with no
  labelled reps (distractors).
"""

import glob
import json
import os
import sys

from hipflex import recording
from hipflex.analyze import resolve_params, run_detector
from hipflex.core import profiles
from hipflex.errors import UserError


def match(det, lab):
    """One-to-one matching of detected reps (Rep) to labelled reps (dicts).
    Returns a list of (detected, labelled) pairs."""
    pairs = []
    used = [False] * len(lab)
    for d in det:
        pk = d.peak_ms / 1000.0
        for i, r in enumerate(lab):
            if not used[i] and r["start"] <= pk <= r["end"]:
                used[i] = True
                pairs.append((d, r))
                break
    return pairs


def score_recording(rec, params):
    """Score one recording; returns a dict of per-recording figures."""
    reps = run_detector(rec, params)
    n_true = rec.labelled_count()
    out = {"file": rec.path, "name": rec.name, "exercise": rec.exercise or "?",
           "true": n_true, "counted": len(reps), "minutes": rec.duration / 60.0,
           "bounds": rec.has_rep_bounds(), "tp": 0, "holds": []}
    if rec.has_rep_bounds():
        pairs = match(reps, rec.labels["reps"])
        out["tp"] = len(pairs)
        for d, r in pairs:
            if float(r.get("hold", 0)) >= 1.0:
                out["holds"].append(abs(d.hold_ms / 1000.0 - float(r["hold"])))
    return out


def collect(paths):
    """Expand files and folders into labelled .csv recordings, sorted."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(glob.glob(os.path.join(p, "**", "*.csv"), recursive=True))
            files.extend(f for f in found if os.path.exists(recording.labels_path(f)))
        elif os.path.exists(p):
            if not os.path.exists(recording.labels_path(p)):
                raise UserError("%s has no labels file (%s); label it with 'hipflex label'"
                                % (p, os.path.basename(recording.labels_path(p))))
            files.append(p)
        else:
            raise UserError("%s: no such file or folder" % p)
    if not files:
        raise UserError("no labelled recordings (NAME.csv with NAME.labels.json) in %s"
                        % ", ".join(paths))
    return files


def profile_for(rec, exercise_from_labels, exercise):
    if exercise:
        return exercise
    if exercise_from_labels and rec.exercise in profiles.NAMES:
        return rec.exercise
    return "auto"


def summarize(rows):
    """Aggregate per-recording rows into the evaluation figures."""
    n = len(rows)
    counted = [r for r in rows if r["true"] is not None]
    exact = sum(1 for r in counted if r["counted"] == r["true"])
    within = sum(1 for r in counted if abs(r["counted"] - r["true"]) <= 1)
    mae = sum(abs(r["counted"] - r["true"]) for r in counted) / len(counted) if counted else 0.0
    b = [r for r in rows if r["bounds"]]
    tp = sum(r["tp"] for r in b)
    ndet = sum(r["counted"] for r in b)
    ntrue = sum(r["true"] for r in b)
    prec = tp / ndet if ndet else (1.0 if b else None)
    rec_ = tp / ntrue if ntrue else (1.0 if b else None)
    f1 = None
    if prec is not None and rec_ is not None:
        f1 = 2 * prec * rec_ / (prec + rec_) if prec + rec_ else 0.0
    holds = [h for r in rows for h in r["holds"]]
    neg = [r for r in rows if r["true"] == 0]
    minutes = sum(r["minutes"] for r in neg)
    fpm = sum(r["counted"] for r in neg) / minutes if minutes else None
    return {"recordings": n, "exact": exact / len(counted) if counted else None,
            "within1": within / len(counted) if counted else None, "count_mae": mae,
            "precision": prec, "recall": rec_, "f1": f1,
            "hold_mae_s": sum(holds) / len(holds) if holds else None, "holds_scored": len(holds),
            "false_per_min": fpm, "count_only": sum(1 for r in counted if not r["bounds"])}


def evaluate(files, exercise=None, exercise_from_labels=False, config=None, progress=None):
    rows = []
    for i, f in enumerate(files):
        rec = recording.read(f)
        prof = profile_for(rec, exercise_from_labels, exercise)
        row = score_recording(rec, resolve_params(prof, config))
        row["profile"] = prof
        rows.append(row)
        if progress:
            progress(i + 1, len(files), f)
    groups = {}
    for r in rows:
        groups.setdefault(r["exercise"], []).append(r)
    per = {k: summarize(v) for k, v in sorted(groups.items())}
    return {"overall": summarize(rows), "per_exercise": per, "recordings": rows}


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return "%.0f%%" % (100 * v) if pct else "%.2f" % v


def print_table(res, out=sys.stdout):
    head = "%-34s %4s %6s %6s %5s %5s %5s %5s %6s %6s" % (
        "exercise", "n", "exact", "+-1", "cMAE", "prec", "rec", "F1", "holdE", "fp/min")
    out.write(head + "\n")
    items = list(res["per_exercise"].items()) + [("OVERALL", res["overall"])]
    for name, s in items:
        out.write("%-34s %4d %6s %6s %5s %5s %5s %5s %6s %6s\n" % (
            name[:34], s["recordings"], _fmt(s["exact"], True), _fmt(s["within1"], True),
            _fmt(s["count_mae"]), _fmt(s["precision"], True), _fmt(s["recall"], True),
            _fmt(s["f1"], True), _fmt(s["hold_mae_s"]), _fmt(s["false_per_min"])))
    co = res["overall"]["count_only"]
    if co:
        out.write("%d recording(s) have count-only labels: they enter exact, +-1 and count MAE, "
                  "not precision, recall, F1 or hold error.\n" % co)
    miss = [r for r in res["recordings"] if r["true"] is not None and r["counted"] != r["true"]]
    if miss:
        out.write("miscounted: " + ", ".join("%s (%d/%d)" % (r["name"], r["counted"], r["true"])
                                             for r in miss[:12]))
        if len(miss) > 12:
            out.write(", ... %d more" % (len(miss) - 12))
        out.write("\n")


def cmd_evaluate(args):
    files = collect(args.paths)
    if args.exercise and args.exercise not in profiles.NAMES:
        raise UserError("unknown exercise %r; choose one of: %s" % (args.exercise, ", ".join(profiles.NAMES)))
    if args.json or not sys.stderr.isatty():
        res = evaluate(files, args.exercise, args.exercise_from_labels, args.config)
    else:
        from rich.progress import Progress
        with Progress(transient=True) as prog:
            task = prog.add_task("scoring", total=len(files))
            res = evaluate(files, args.exercise, args.exercise_from_labels, args.config,
                           progress=lambda i, n, f: prog.update(task, completed=i,
                                                                description=os.path.basename(f)))
    if args.json:
        print(json.dumps(res, indent=1, default=float))
    else:
        print_table(res)
    return 0


def register(sub):
    p = sub.add_parser("evaluate", help="score the detector on labelled recordings",
                       description="Run the detector on every labelled recording (files or folders) "
                       "and print, per exercise and overall: exact-count rate, within +-1, count MAE, "
                       "rep precision/recall/F1 (a detected peak inside a labelled rep), hold MAE "
                       "(labelled holds >= 1 s) and false reps per minute on recordings with no reps.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="recordings or folders of recordings")
    p.add_argument("--exercise-from-labels", action="store_true",
                   help="use each recording's labelled exercise profile (default: auto for all)")
    p.add_argument("--exercise", "-e", metavar="NAME", help="use this profile for every recording")
    p.add_argument("--config", metavar="FILE", help="profile file written by 'hipflex tune'")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_evaluate)
