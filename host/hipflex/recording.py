"""Recording files: the one reader/writer every command uses.

Format (a contract other tools rely on):

* ``NAME.csv``, UTF-8, first line exactly ``t,ax,ay,az,gx,gy,gz``; ``t`` in
  seconds since start, strictly increasing (gaps where samples were dropped),
  acceleration in m/s^2, angular rate in rad/s, sensor frame.
* optional ``NAME.labels.json``: ``{"exercise": NAME, "reps": [{"start": s,
  "peak": s, "end": s, "hold": s}, ...]}``; only real repetitions are
  labelled, ``hold`` is 0 when there is none. A count-only label
  ``{"count": N, "reps": []}`` is allowed. Extra keys are allowed.
"""

import json
import math
import os

import numpy as np

HEADER = "t,ax,ay,az,gx,gy,gz"
G = 9.80665


class RecordingError(ValueError):
    """Bad recording input; ``str()`` is a one-line message naming file and line."""


class Recording:
    """A loaded recording.

    Attributes: ``path``, ``t`` (N, seconds), ``acc`` (N x 3, m/s^2),
    ``gyr`` (N x 3, rad/s), ``labels`` (dict or None).
    """

    def __init__(self, t, acc, gyr, labels=None, path=None):
        self.t = np.asarray(t, dtype=float)
        self.acc = np.asarray(acc, dtype=float).reshape(-1, 3)
        self.gyr = np.asarray(gyr, dtype=float).reshape(-1, 3)
        self.labels = labels
        self.path = path

    def __len__(self):
        return len(self.t)

    @property
    def name(self):
        return os.path.basename(self.path or "recording").rsplit(".csv", 1)[0]

    @property
    def duration(self):
        return float(self.t[-1] - self.t[0]) if len(self.t) else 0.0

    @property
    def rate_hz(self):
        if len(self.t) < 2:
            return 0.0
        return float(1.0 / np.median(np.diff(self.t)))

    def t_ms(self):
        """Integer-millisecond timestamps, as the core expects (rounded half
        up, the same rule the board-side and MicroPython readers use)."""
        return np.floor(self.t * 1000.0 + 0.5).astype(np.int64)

    @property
    def exercise(self):
        if self.labels:
            return self.labels.get("exercise")
        return None

    def labelled_count(self):
        """Number of labelled reps, or None when there are no labels."""
        if self.labels is None:
            return None
        reps = self.labels.get("reps") or []
        if reps:
            return len(reps)
        if "count" in self.labels:
            return int(self.labels["count"])
        return 0

    def has_rep_bounds(self):
        return bool(self.labels and self.labels.get("reps"))

    def samples(self):
        """Iterate ``(t_ms, ax, ay, az, gx, gy, gz)`` tuples of Python scalars."""
        tm = self.t_ms().tolist()
        a = self.acc.tolist()
        g = self.gyr.tolist()
        for i in range(len(tm)):
            ai = a[i]
            gi = g[i]
            yield tm[i], ai[0], ai[1], ai[2], gi[0], gi[1], gi[2]


def labels_path(csv_path):
    base = csv_path[:-4] if csv_path.endswith(".csv") else csv_path
    return base + ".labels.json"


def _fail(path, line, msg):
    where = "%s:%d" % (path, line) if line else str(path)
    raise RecordingError("%s: %s" % (where, msg))


def read(path, units="auto", labels=True):
    """Read and validate a recording. Raises RecordingError with file and line.

    ``units``: ``"auto"`` (m/s^2; refuse data that looks like g), ``"ms2"``
    (m/s^2, no check) or ``"g"`` (multiply acceleration by 9.80665).
    """
    path = str(path)
    if not os.path.exists(path):
        _fail(path, 0, "no such file")
    if os.path.isdir(path):
        _fail(path, 0, "is a directory, expected a .csv recording")
    try:
        with open(path, "r", encoding="utf-8") as f:
            header = f.readline()
            text = f.read()
    except UnicodeDecodeError:
        _fail(path, 0, "not UTF-8 text; expected a CSV recording")
    if not header:
        _fail(path, 1, "empty file; expected header '%s'" % HEADER)
    if header.strip().lstrip("\ufeff") != HEADER:
        _fail(path, 1, "header is %r; expected exactly '%s'" % (header.strip()[:60], HEADER))
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != 7:
            _fail(path, i + 2, "expected 7 columns, found %d" % len(cells))
        try:
            vals = [float(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if not _isfloat(c))
            _fail(path, i + 2, "non-numeric cell %r" % bad.strip()[:20])
        for v in vals:
            if not math.isfinite(v):
                _fail(path, i + 2, "non-finite value (NaN or inf)")
        rows.append((i + 2, vals))
    if not rows:
        _fail(path, 2, "no samples after the header")
    data = np.array([r[1] for r in rows], dtype=float)
    t = data[:, 0]
    dt = np.diff(t)
    bad = np.nonzero(dt <= 0)[0]
    if len(bad):
        k = int(bad[0]) + 1
        _fail(path, rows[k][0], "time does not increase (t=%g after t=%g)" % (t[k], t[k - 1]))
    acc = data[:, 1:4]
    gyr = data[:, 4:7]
    if units == "g":
        acc = acc * G
    elif units == "auto":
        mag = np.median(np.linalg.norm(acc, axis=1))
        if 0.5 < mag < 2.0:
            _fail(path, 0, "acceleration looks like g (median |a| = %.2f), not m/s^2; "
                  "pass --units g to convert" % mag)
    lab = None
    if labels:
        lp = labels_path(path)
        if os.path.exists(lp):
            lab = read_labels(lp)
    return Recording(t, acc, gyr, lab, path)


def _isfloat(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_labels(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            lab = json.load(f)
    except json.JSONDecodeError as e:
        _fail(path, e.lineno, "invalid JSON: %s" % e.msg)
    if not isinstance(lab, dict):
        _fail(path, 1, "labels must be a JSON object")
    reps = lab.get("reps", [])
    if not isinstance(reps, list):
        _fail(path, 1, "'reps' must be a list")
    for i, r in enumerate(reps):
        if not isinstance(r, dict) or not all(k in r for k in ("start", "peak", "end")):
            _fail(path, 1, "rep %d needs start, peak and end (seconds)" % (i + 1))
        r.setdefault("hold", 0.0)
    if "count" in lab and not isinstance(lab["count"], int):
        _fail(path, 1, "'count' must be an integer")
    return lab


def write(path, t, acc, gyr, labels=None, decimals=5):
    """Write a recording (and its labels file when ``labels`` is given)."""
    t = np.asarray(t, dtype=float)
    acc = np.asarray(acc, dtype=float).reshape(-1, 3)
    gyr = np.asarray(gyr, dtype=float).reshape(-1, 3)
    if len(t) and np.any(np.diff(t) <= 0):
        raise ValueError("time must increase strictly")
    data = np.column_stack([t, acc, gyr])
    fmt = ["%.4f"] + ["%%.%df" % decimals] * 6
    d = os.path.dirname(str(path))
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = str(path) + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(HEADER + "\n")
        np.savetxt(f, data, fmt=fmt, delimiter=",")
    os.replace(tmp, path)
    if labels is not None:
        write_labels(labels_path(str(path)), labels)


def write_labels(path, labels):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(labels, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
