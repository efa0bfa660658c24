"""``hipflex tune``: fit the detector's parameters to one person's recordings.

How it works
------------
1. **Attitude once.** Each tick of ``Detector.update()`` runs the attitude
   filter and the rate smoothing, which depend on ``gain_mhz`` only, then
   hands its output to ``Detector.decide()``, which holds every threshold. So each recording is
   streamed through the core once per filter gain, recording the arguments of
   every ``decide()`` call (:class:`TickRecorder`); each threshold candidate
   is then a replay of that tick stream through a fresh Detector's
   ``decide()`` (:func:`replay`), and ``flush()`` at the end, exactly as
   ``analyze.run_detector`` does. Same code, same inputs, so the same reps.
   (``decide()`` is a state machine whose rest pose follows the data, so the
   replay itself is a Python loop; numpy holds the tick streams and does the
   scoring of every candidate on every cross-validation fold at once.)
2. **Candidates.** The exercise's profile (or ``--config FILE``) is candidate
   0; then every searched parameter moved alone over a small grid around it;
   then random combinations (fixed by ``--seed``). Which parameters are
   searched depends on the labels: hold thresholds only when holds are
   labelled. Every candidate is scored on every recording once (a matrix),
   in parallel over (recording, candidate chunk).
3. **Objective**, in this order: exact-count rate, count error (sum of
   |counted - labelled|), rep F1 (recordings with rep bounds), hold error
   (labelled holds of at least 1 s; a missed rep counts as held 0 s), then
   the earlier candidate (fewer changes).
4. **Cross-validation.** Leave one recording out: the best candidate on the
   other recordings is scored on the one left out, for every recording. The
   held-out figures are what the report leads with; a profile whose
   held-out score is worse than the current profile's is not written.
"""

import json
import math
import os
import sys
import time

import numpy as np

from hipflex import recording
from hipflex.analyze import collect
from hipflex.core import profiles
from hipflex.core.detector import Detector
from hipflex.errors import UserError

MIN_RECORDINGS = 2        # fewer: nothing to hold out
TRUST_RECORDINGS = 5      # fewer: warn that the held-out figures are rough
TRUST_REPS = 20
HOLD_MIN_MS = 1000        # labelled holds from this long are scored
DEFAULT_BUDGET = 200
MAX_BUDGET = 5000

# Searched values, as factors of the starting value (``*``) or absolute
# values. Every list also contains the starting value itself.
GRID = {
    "min_rom_deg": ("*", (0.25, 0.4, 0.55, 0.7, 0.85, 1.2, 1.4, 1.7, 2.0)),
    "entry_deg": ("*", (0.5, 0.7, 1.4, 2.0)),
    "exit_pct": ("=", (30, 40, 50, 60, 70)),
    "rel_pct": ("=", (0, 20, 30, 40, 50, 60, 70)),
    "min_rep_ms": ("*", (0.5, 0.7, 1.5, 2.0, 3.0)),
    "max_hold_ms": ("*", (0.25, 0.5, 1.5, 2.0)),
    "still_dps": ("*", (0.5, 0.75, 1.5, 2.0)),
    "swing_pct": ("=", (30, 40, 60, 75)),
    "hold_dps": ("*", (0.5, 0.75, 1.33, 1.67)),
    "hold_pct": ("=", (60, 70, 80, 85, 90)),
    "gain_mhz": ("*", (0.5, 2.0)),
}
COUNT_PARAMS = ("min_rom_deg", "entry_deg", "exit_pct", "rel_pct", "min_rep_ms",
                "max_hold_ms", "still_dps", "swing_pct", "gain_mhz")
HOLD_PARAMS = ("hold_dps", "hold_pct")
LOWER = {"min_rom_deg": 2, "entry_deg": 1, "min_rep_ms": 50, "max_hold_ms": 3000,
         "still_dps": 1, "hold_dps": 1, "gain_mhz": 100}
COMBO_P = 0.35            # chance that a random combination moves a parameter
GAIN_COMBO_P = 0.25       # ... the filter gain (each gain is one more attitude pass)


# ------------------------------------------------------------ tick streams

class TickRecorder(Detector):
    """A Detector that records the arguments of every ``decide()`` call
    (the attitude stage's output) while it runs as usual."""

    def __init__(self, params=None):
        super().__init__(params)
        self.ticks = []

    def decide(self, t, dtm, w, x, y, z, spd, scale=1.0):
        self.ticks.append((t, dtm, w, x, y, z, spd, scale))
        return super().decide(t, dtm, w, x, y, z, spd, scale)


class Ticks:
    """One recording's tick stream for one filter gain: ``t``, ``dtm``
    (int64 ms) and ``f`` (n x 6 float64: the pose w, x, y, z, the smoothed
    speed and the gyro scale), exactly the values the core passed to
    ``decide()``."""

    def __init__(self, t, dtm, f):
        self.t = np.asarray(t, dtype=np.int64)
        self.dtm = np.asarray(dtm, dtype=np.int64)
        self.f = np.asarray(f, dtype=np.float64).reshape(-1, 6)
        self._rows = None

    def __len__(self):
        return len(self.t)

    def rows(self):
        """The ticks as tuples of Python scalars (the types the core saw)."""
        if self._rows is None:
            f = self.f
            self._rows = list(zip(self.t.tolist(), self.dtm.tolist(), f[:, 0].tolist(),
                                  f[:, 1].tolist(), f[:, 2].tolist(), f[:, 3].tolist(),
                                  f[:, 4].tolist(), f[:, 5].tolist()))
        return self._rows


def attitude_ticks(rec, gain_mhz, params=None):
    """Stream ``rec`` through the core with filter gain ``gain_mhz``; returns
    its :class:`Ticks`. The thresholds in ``params`` do not change the ticks."""
    p = dict(params or profiles.get("auto"))
    p["gain_mhz"] = int(gain_mhz)
    det = TickRecorder(p)
    upd = det.update
    for s in rec.samples():
        upd(*s)
    tk = det.ticks
    if not tk:
        return Ticks([], [], np.zeros((0, 6)))
    a = np.array(tk, dtype=np.float64)
    return Ticks([r[0] for r in tk], [r[1] for r in tk], a[:, 2:8])


def replay(ticks, params):
    """Reps the core finds with ``params`` on a recorded tick stream: the
    same list ``analyze.run_detector`` returns when ``params["gain_mhz"]``
    is the gain the ticks were recorded with."""
    det = Detector(params)
    return collect(det, det.decide, ticks.rows())


# ------------------------------------------------------------ labels, scores

class Target:
    """What one recording's labels say, in the units the detector reports."""

    def __init__(self, rec):
        lab = rec.labels or {}
        self.name = rec.name
        self.path = rec.path
        self.true = rec.labelled_count()
        self.bounds = rec.has_rep_bounds()
        self.reps = [dict(start=float(r["start"]), end=float(r["end"]),
                          hold_ms=int(round(float(r.get("hold", 0)) * 1000)))
                     for r in (lab.get("reps") or [])]
        hs = lab.get("hold_s")
        self.hold_each_ms = None
        if not self.bounds and isinstance(hs, (int, float)) and hs * 1000 >= HOLD_MIN_MS:
            self.hold_each_ms = int(round(hs * 1000))

    @property
    def hold_labels(self):
        """Number of labelled holds scored on this recording."""
        if self.bounds:
            return sum(1 for r in self.reps if r["hold_ms"] >= HOLD_MIN_MS)
        if self.hold_each_ms is not None:
            return self.true
        return 0


def score(reps, tg):
    """``(counted, tp, hold_err_ms)`` of detected ``reps`` against target ``tg``."""
    counted = len(reps)
    tp = 0
    herr = 0
    if tg.bounds:
        used = [False] * len(tg.reps)
        got = {}
        for d in reps:
            pk = d.peak_ms / 1000.0
            for i, r in enumerate(tg.reps):
                if not used[i] and r["start"] <= pk <= r["end"]:
                    used[i] = True
                    got[i] = d.hold_ms
                    tp += 1
                    break
        for i, r in enumerate(tg.reps):
            if r["hold_ms"] >= HOLD_MIN_MS:
                herr += abs(got.get(i, 0) - r["hold_ms"])
    elif tg.hold_each_ms is not None:
        h = tg.hold_each_ms
        for i in range(tg.true):
            herr += abs((reps[i].hold_ms if i < counted else 0) - h)
    return counted, tp, herr


class Scores:
    """Per (candidate, recording) figures: ``counted``, ``tp``, ``herr``
    (C x R int arrays) and per recording ``true``, ``bounds``, ``nholds``."""

    def __init__(self, n_cand, targets):
        r = len(targets)
        self.counted = np.zeros((n_cand, r), dtype=np.int64)
        self.tp = np.zeros((n_cand, r), dtype=np.int64)
        self.herr = np.zeros((n_cand, r), dtype=np.int64)
        self.true = np.array([t.true for t in targets], dtype=np.int64)
        self.bounds = np.array([t.bounds for t in targets], dtype=bool)
        self.nholds = np.array([t.hold_labels for t in targets], dtype=np.int64)

    def put(self, ci, ri, vals):
        self.counted[ci, ri], self.tp[ci, ri], self.herr[ci, ri] = vals


def keys(counted, tp, herr, true, bounds):
    """Objective terms for rows of candidates over the recordings given
    (columns): ``(exact, abs_err, f1, hold_err)``; larger exact and F1 and
    smaller errors are better."""
    err = np.abs(counted - true[None, :])
    exact = (err == 0).sum(axis=1)
    abs_err = err.sum(axis=1)
    b = bounds[None, :]
    num = 2 * (tp * b).sum(axis=1)
    den = (counted * b).sum(axis=1) + (true[None, :] * b).sum(axis=1)
    f1 = np.where(den > 0, num / np.maximum(den, 1), 1.0)
    return exact, abs_err, f1, herr.sum(axis=1)


def best_index(exact, abs_err, f1, herr):
    """Index of the best candidate (lexicographic objective, then the lowest index)."""
    idx = np.arange(len(exact))
    order = np.lexsort((idx, herr, -f1, abs_err, -exact))
    return int(order[0])


def summary(counted, tp, herr, true, bounds, nholds):
    """Evaluation figures for one detected count per recording (1-D arrays)."""
    n = len(true)
    err = np.abs(counted - true)
    nb = int(bounds.sum())
    ndet = int(counted[bounds].sum())
    ntrue = int(true[bounds].sum())
    ntp = int(tp[bounds].sum())
    out = {"recordings": n, "exact": int((err == 0).sum()),
           "exact_rate": float((err == 0).mean()) if n else None,
           "within1_rate": float((err <= 1).mean()) if n else None,
           "count_mae": float(err.mean()) if n else None,
           "count_error": int(err.sum()),
           "precision": None, "recall": None, "f1": None, "hold_mae_s": None,
           "holds_scored": int(nholds.sum())}
    if nb:
        out["precision"] = ntp / ndet if ndet else 1.0
        out["recall"] = ntp / ntrue if ntrue else 1.0
        out["f1"] = 2 * ntp / (ndet + ntrue) if ndet + ntrue else 1.0
    if nholds.sum():
        out["hold_mae_s"] = float(herr.sum()) / float(nholds.sum()) / 1000.0
    return out


def _objective(s):
    return (s["exact"], -s["count_error"], s["f1"] if s["f1"] is not None else 0.0,
            -(s["hold_mae_s"] or 0.0))


# ------------------------------------------------------------ candidates

def grid_values(name, base):
    """Values searched for parameter ``name`` starting from ``base`` (sorted,
    including ``base``)."""
    kind, vals = GRID[name]
    lo = LOWER.get(name, 0)
    out = {int(base)}
    for v in vals:
        x = int(round(base * v)) if kind == "*" else int(v)
        if kind == "=" and name.endswith("_pct"):
            x = min(x, 100)
        out.add(max(lo, x))
    return sorted(out)


def _couple(p, base):
    """A lower ``min_rom_deg`` needs a rep to be opened earlier too: keep
    ``entry_deg`` at most 60 % of it (as ``analyze --min-rom`` does) when
    the range was changed."""
    if p["min_rom_deg"] != base["min_rom_deg"]:
        cap = max(1, p["min_rom_deg"] * 6 // 10)
        if p["entry_deg"] > cap:
            p["entry_deg"] = cap
    return p


def search_space(targets, base):
    """Parameters searched: those that change counts, plus the hold
    thresholds when some recording labels holds."""
    names = list(COUNT_PARAMS)
    if any(t.hold_labels for t in targets):
        names += list(HOLD_PARAMS)
    return [n for n in names if n in base]


def candidates(base, names, budget, seed=0):
    """Candidate parameter dicts: ``base`` first, then each parameter moved
    alone over its grid, then random combinations; at most ``budget``,
    no duplicates. Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    seen = set()
    out = []

    def add(p):
        key = tuple(sorted(p.items()))
        if key in seen:
            return False
        seen.add(key)
        out.append(p)
        return True

    add(dict(base))
    grids = {n: grid_values(n, base[n]) for n in names}
    singles = []
    for n in names:
        for v in grids[n]:
            if v != base[n]:
                p = dict(base)
                p[n] = v
                singles.append(_couple(p, base))
    if len(singles) > budget - 1:
        keep = sorted(rng.choice(len(singles), size=max(0, budget - 1), replace=False))
        singles = [singles[i] for i in keep]
    for p in singles:
        add(p)
    tries = 0
    while len(out) < budget and tries < 50 * budget:
        tries += 1
        p = dict(base)
        for n in names:
            pr = GAIN_COMBO_P if n == "gain_mhz" else COMBO_P
            if rng.random() < pr:
                g = grids[n]
                p[n] = int(g[rng.integers(len(g))])
        add(_couple(p, base))
    return out[:budget]


# ------------------------------------------------------------ evaluation

_W = {}     # worker state: recordings, targets, candidates, tick cache


def _init_worker(recs, targets, cands):
    _W.clear()
    _W.update(recs=recs, targets=targets, cands=cands, cache={})


def _ticks_for(ri, gain):
    cache = _W["cache"]
    key = (ri, gain)
    tk = cache.get(key)
    if tk is None:
        if len(cache) >= 4:
            cache.pop(next(iter(cache)))
        tk = attitude_ticks(_W["recs"][ri], gain, _W["cands"][0])
        cache[key] = tk
    return tk


def _run_task(task):
    ri, gain, cis = task
    tk = _ticks_for(ri, gain)
    tg = _W["targets"][ri]
    cands = _W["cands"]
    return ri, [(ci, score(replay(tk, cands[ci]), tg)) for ci in cis]


def make_tasks(recs, cands, jobs):
    """(recording, gain, candidate chunk) tasks, longest recordings first;
    chunks of one (recording, gain) pair are adjacent so a worker computes
    its tick stream once."""
    by_gain = {}
    for ci, p in enumerate(cands):
        by_gain.setdefault(p["gain_mhz"], []).append(ci)
    pairs = [(ri, g) for ri in range(len(recs)) for g in sorted(by_gain)]
    target = 4 * max(1, jobs)
    per_pair = 1 if jobs <= 1 else max(1, int(math.ceil(target / max(1, len(pairs)))))
    tasks = []
    order = sorted(range(len(recs)), key=lambda i: -len(recs[i]))
    for ri in order:
        for g in sorted(by_gain):
            cis = by_gain[g]
            k = min(per_pair, max(1, len(cis) // 8))
            step = int(math.ceil(len(cis) / k))
            for j in range(0, len(cis), step):
                tasks.append((ri, g, cis[j:j + step]))
    return tasks


def evaluate_candidates(recs, targets, cands, jobs=1, progress=None):
    """Score every candidate on every recording; returns :class:`Scores`.
    ``progress(done, total)`` is called as (candidate, recording) pairs finish."""
    sc = Scores(len(cands), targets)
    tasks = make_tasks(recs, cands, jobs)
    total = len(cands) * len(recs)
    done = 0
    if jobs <= 1 or len(tasks) <= 1:
        _init_worker(recs, targets, cands)
        results = map(_run_task, tasks)
        pool = None
    else:
        import multiprocessing
        pool = multiprocessing.get_context().Pool(jobs, _init_worker, (recs, targets, cands))
        results = pool.imap_unordered(_run_task, tasks)
    try:
        for ri, vals in results:
            for ci, v in vals:
                sc.put(ci, ri, v)
            done += len(vals)
            if progress:
                progress(done, total)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        _W.clear()
    return sc


def cross_validate(sc):
    """Leave one recording out. Returns ``(final, picks)``: the best
    candidate on all recordings and, per recording, the best candidate on
    the others (the one that recording is scored with when held out)."""
    r = sc.counted.shape[1]
    final = best_index(*keys(sc.counted, sc.tp, sc.herr, sc.true, sc.bounds))
    picks = []
    for i in range(r):
        m = np.ones(r, dtype=bool)
        m[i] = False
        picks.append(best_index(*keys(sc.counted[:, m], sc.tp[:, m], sc.herr[:, m],
                                      sc.true[m], sc.bounds[m])))
    return final, picks


# ------------------------------------------------------------ the whole job

def load_recordings(paths, exercise=None):
    """Labelled recordings for tuning and the exercise they are of.
    Raises UserError on unusable input."""
    from hipflex.evaluate import collect
    if exercise is not None and exercise not in profiles.NAMES:
        raise UserError("unknown exercise %r; choose one of: %s"
                        % (exercise, ", ".join(profiles.NAMES)))
    wanted = []
    for p in paths:      # a shell glob also picks up the labels files: take their .csv
        if p.endswith(".labels.json"):
            p = p[:-len(".labels.json")] + ".csv"
        if p not in wanted:
            wanted.append(p)
    files = collect(wanted)
    recs = [recording.read(f) for f in files]
    for rec in recs:
        if rec.labels is None:
            raise UserError("%s has no labels; label it with 'hipflex label'" % rec.path)
        lab = rec.labels
        if "reps" not in lab and "count" not in lab:
            raise UserError("%s: the labels give neither reps nor a count; label it with "
                            "'hipflex label %s --reps N'" % (recording.labels_path(rec.path),
                                                             rec.path))
    if exercise is None:
        found = sorted({r.exercise for r in recs
                        if r.exercise and r.labelled_count() and r.exercise != "auto"})
        if len(found) > 1:
            raise UserError("recordings of different exercises (%s): tune one exercise at a "
                            "time, or pass --exercise NAME to tune them together"
                            % ", ".join(found))
        exercise = found[0] if found else "auto"
        if exercise not in profiles.NAMES:
            raise UserError("the labels name exercise %r, which has no detector profile; pass "
                            "--exercise NAME (one of: %s)" % (exercise, ", ".join(profiles.NAMES)))
    if len(recs) < MIN_RECORDINGS:
        raise UserError("tuning needs at least %d labelled recordings (one is held out to check "
                        "the result); found %d" % (MIN_RECORDINGS, len(recs)))
    if not any(r.labelled_count() for r in recs):
        raise UserError("no labelled reps in %d recording(s): nothing to tune to" % len(recs))
    return recs, exercise


def tune(recs, exercise, base=None, budget=DEFAULT_BUDGET, seed=0, jobs=1, progress=None):
    """Search, cross-validate and report. ``base``: the current parameters
    (default: the exercise's catalogue profile). Returns a result dict (the
    ``--json`` output) with ``params`` the tuned parameters."""
    t0 = time.monotonic()
    base = dict(base) if base is not None else profiles.get(exercise)
    targets = [Target(r) for r in recs]
    names = search_space(targets, base)
    cands = candidates(base, names, budget, seed)
    sc = evaluate_candidates(recs, targets, cands, jobs, progress)
    final, picks = cross_validate(sc)
    r = len(recs)
    cols = np.arange(r)
    held = np.array(picks, dtype=np.int64)

    def summ(ci_per_rec):
        return summary(sc.counted[ci_per_rec, cols], sc.tp[ci_per_rec, cols],
                       sc.herr[ci_per_rec, cols], sc.true, sc.bounds, sc.nholds)

    before = summ(np.zeros(r, dtype=np.int64))
    after = summ(np.full(r, final, dtype=np.int64))
    held_out = summ(held)
    params = cands[final]
    rows = []
    for i, (rec, tg) in enumerate(zip(recs, targets)):
        rows.append({"file": rec.path, "name": rec.name, "labelled": tg.true,
                     "bounds": tg.bounds, "minutes": round(rec.duration / 60.0, 3),
                     "before": int(sc.counted[0, i]), "after": int(sc.counted[final, i]),
                     "held_out": int(sc.counted[picks[i], i]),
                     "held_out_changed": sorted(k for k in cands[picks[i]]
                                                if cands[picks[i]][k] != base[k])})
    warnings = []
    nreps = int(sc.true.sum())
    if r < TRUST_RECORDINGS or nreps < TRUST_REPS:
        warnings.append("only %d recordings with %d labelled reps: the held-out figures are "
                        "rough; %d+ recordings of %d+ reps in all make them trustworthy"
                        % (r, nreps, TRUST_RECORDINGS, TRUST_REPS))
    better = _objective(held_out) > _objective(before)
    worse = _objective(held_out) < _objective(before)
    if _objective(after) > _objective(before) and not better:
        warnings.append("better on the recordings it was fitted to but not on held-out ones: "
                        "the changes look like over-fitting")
    n_gain = len({p["gain_mhz"] for p in cands})
    return {"exercise": exercise, "recordings": rows, "candidates": len(cands),
            "searched": names, "filter_gains": n_gain, "cross_validation": "leave-one-recording-out",
            "base": base, "params": params,
            "changed": {k: [base[k], params[k]] for k in params if params[k] != base[k]},
            "before": before, "after": after, "held_out": held_out,
            "held_out_better": bool(better), "held_out_worse": bool(worse),
            "warnings": warnings, "seconds": round(time.monotonic() - t0, 2)}


# ------------------------------------------------------------ command line

def _pct(v):
    return "-" if v is None else "%.0f%%" % (100 * v)


def _num(v, fmt="%.2f"):
    return "-" if v is None else fmt % v


def print_report(res, out=None):
    out = out or sys.stdout
    rows = res["recordings"]
    nb = sum(1 for r in rows if r["bounds"])
    out.write("tuning %s on %d recording%s (%d with rep bounds, %d count-only): %d candidates, "
              "%s\n" % (res["exercise"], len(rows), "" if len(rows) == 1 else "s", nb,
                        len(rows) - nb, res["candidates"], res["cross_validation"]))
    w = max([9] + [len(r["name"]) for r in rows])
    out.write("%-*s %8s %7s %6s %9s\n" % (w, "recording", "labelled", "before", "after",
                                          "held-out"))
    for r in rows:
        def mark(n):
            return "%d%s" % (n, " " if n == r["labelled"] else "*")
        out.write("%-*s %8d %7s %6s %9s\n" % (w, r["name"], r["labelled"], mark(r["before"]),
                                              mark(r["after"]), mark(r["held_out"])))
    out.write("(* = count differs from the label; held-out = tuned on the other recordings)\n\n")
    out.write("%-20s %7s %6s %6s %5s %9s\n" % ("", "exact", "+-1", "cMAE", "F1", "hold MAE"))
    for label, s in (("before (current)", res["before"]), ("after, fitted", res["after"]),
                     ("after, held-out", res["held_out"])):
        out.write("%-20s %7s %6s %6s %5s %9s\n" % (
            label, "%d/%d" % (s["exact"], s["recordings"]), _pct(s["within1_rate"]),
            _num(s["count_mae"]), _pct(s["f1"]), _num(s["hold_mae_s"], "%.1f s")))
    if res["changed"]:
        out.write("changed: %s\n" % ", ".join("%s %d -> %d" % (k, a, b)
                                              for k, (a, b) in res["changed"].items()))
    else:
        out.write("changed: nothing (the current profile is the best found)\n")
    for wmsg in res["warnings"]:
        out.write("warning: %s\n" % wmsg)


def cmd_tune(args):
    from hipflex.profile_file import (full_params, load_profile, settings_path,
                                      write_profile, write_settings_snippet)
    if not 1 <= args.budget <= MAX_BUDGET:
        raise UserError("--budget must be between 1 and %d" % MAX_BUDGET)
    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.output and not args.output.endswith(".toml"):
        raise UserError("%s: a profile file name ends in .toml" % args.output)
    base = None
    exercise = args.exercise
    if args.config:
        ex_cfg, p = load_profile(args.config)
        if exercise and ex_cfg and ex_cfg != exercise:
            raise UserError("%s is a profile for %s, not %s" % (args.config, ex_cfg, exercise))
        exercise = exercise or ex_cfg
    recs, exercise = load_recordings(args.paths, exercise)
    if args.config:
        base = full_params(exercise, p)
    jobs = args.jobs or min(os.cpu_count() or 1, 8)
    if args.json or not sys.stderr.isatty():
        res = tune(recs, exercise, base, args.budget, args.seed, jobs)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
                "{task.percentage:>3.0f}%"), TimeRemainingColumn(), transient=True) as prog:
            task = prog.add_task("tuning %s" % exercise, total=1)
            res = tune(recs, exercise, base, args.budget, args.seed, jobs,
                       progress=lambda d, n: prog.update(task, completed=d, total=n))
    res["written"] = None
    res["settings_written"] = None
    res["refused"] = None
    rc = 0
    if res["held_out_worse"]:
        res["refused"] = ("the tuned profile scores worse than the current one on held-out "
                          "recordings; record and label more sets, then tune again")
    elif args.output:
        h = res["held_out"]
        comments = ["tuned for %s on %d recordings (%s); held-out exact %d/%d, count MAE %.2f"
                    % (exercise, len(recs), res["cross_validation"], h["exact"],
                       h["recordings"], h["count_mae"]),
                    "changed from the %s profile: %s" % (
                        "--config" if args.config else "catalogue",
                        ", ".join("%s %d -> %d" % (k, a, b)
                                  for k, (a, b) in res["changed"].items()) or "nothing")]
        write_profile(args.output, exercise, res["params"], comments)
        sp = settings_path(args.output)
        write_settings_snippet(sp, exercise, res["params"], args.output)
        res["written"] = args.output
        res["settings_written"] = sp
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print_report(res)
        if res["refused"]:
            print("not written: " + res["refused"])
        elif res["written"]:
            print("wrote %s (and %s for settings.toml)" % (res["written"], res["settings_written"]))
            print("next: hipflex config push --config %s   (board on USB; --device NAME for "
                  "Bluetooth; needs HIPFLEX_SECRET)" % res["written"])
        else:
            print("nothing written: pass -o PROFILE.toml to keep this profile")
    if res["refused"]:
        print("hipflex: tuned profile not written: worse than the current one on held-out "
              "recordings", file=sys.stderr)
        rc = 1
    return rc


def register(sub):
    p = sub.add_parser(
        "tune", help="tune the detector to your own labelled recordings",
        description="Search the detector parameters that matter for an exercise (range and "
        "entry thresholds, exit and relative range, shortest rep, stillness, hold thresholds, "
        "filter gain) for the best exact-count rate, then count error, rep F1 and hold error on "
        "labelled recordings (see 'hipflex label'), check the result by leaving one recording "
        "out at a time, and write a profile for 'hipflex analyze --config', 'hipflex config "
        "push --config' and the board's settings.toml.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="labelled recordings or folders")
    p.add_argument("--exercise", "-e", metavar="NAME",
                   help="exercise profile to start from (default: from the labels)")
    p.add_argument("--config", metavar="FILE",
                   help="current profile file to start from and compare against")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                   help="parameter sets to try (default %d)" % DEFAULT_BUDGET)
    p.add_argument("-o", "--output", metavar="PROFILE.toml",
                   help="write the tuned profile here (and PROFILE.settings.toml for the board)")
    p.add_argument("--seed", type=int, default=0, help="random search seed (default 0)")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="worker processes (default: one per core)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_tune)
