"""Rep and hold detector for a thigh-worn IMU. Shared by the board and the host.

MicroPython-safe: ``math`` only, integer-millisecond time, bounded state.

Feed one sample at a time::

    det = Detector(profiles.get("auto"))
    rep = det.update(t_ms, ax, ay, az, gx, gy, gz)   # m/s^2, rad/s, sensor frame
    if rep:
        print(rep.rom_deg, rep.hold_ms)

How it works
------------
Samples are summed into ticks of about 30 ms, so the cost and the behaviour do
not depend on the output data rate (26-208 Hz). Each tick the attitude filter
(``attitude.Attitude``) advances and the detector measures the *excursion*:
the angle of the rotation that takes the thigh from its rest pose to where it
is now. Nothing assumes which sensor axis points where, nor the posture.

* **Rest** is where the thigh dwells: whenever it is still near the rest
  pose, the rest pose follows it (so a rest that drifts through a set is
  followed).
* **Rep**: the excursion passes ``entry_deg``, peaks, and comes back below
  ``exit_pct`` % of its peak. It counts when the peak reaches ``min_rom_deg``
  and ``rel_pct`` % of the set's typical peak, and it lasted ``min_rep_ms``.
* **Hold**: the longest still stretch (speed under ``hold_dps``) spent above
  ``hold_pct`` % of the peak.
* **Posture change**: when the thigh stays still away from rest for a second
  it may be a hold or a new posture. What it does next decides: coming back
  to dwell at the old rest pose makes it a rep with a hold; a round trip from
  the new pose that returns there without visiting the old rest makes the new
  pose the rest (and that round trip a rep); staying away longer than
  ``max_hold_ms`` is a posture change.
* **Gait**: walking swings the thigh to both sides of the rest pose; a rep
  whose neighbourhood (``GAIT_MS`` before and after) holds a swing to the
  opposite side larger than ``swing_pct`` % of its peak is not a rep.
"""

import math

from hipflex.core import profiles
from hipflex.core.attitude import Attitude

TICK_MS = 30          # detector step; samples are accumulated in between
GAP_MS = 1000         # longer gaps are not integrated (stream stalled)
SETTLE_MS = 300       # stillness that makes a pose 'dwelt in'
CANDIDATE_MS = 1000   # stillness away from rest that makes a posture candidate
LINGER_MS = 1500      # time near rest (even if not still) that ends a held rep
GAIT_MS = 450         # neighbourhood searched for an opposite swing
SWING_FLOOR_DEG = 6.0
NEW_SET_MS = 60000    # a pause this long starts a new set (typical ROM forgotten)
RAD2DEG = 57.29577951308232

_WAIT = 0
_REST = 1
_OUT = 2


class Rep:
    """One repetition. Times in ms on the caller's clock; ``rom_deg`` in
    degrees; ``hold_ms`` time held still near the top."""

    def __init__(self, index, start_ms, peak_ms, end_ms, rom_deg, hold_ms):
        self.index = index
        self.start_ms = start_ms
        self.peak_ms = peak_ms
        self.end_ms = end_ms
        self.rom_deg = rom_deg
        self.hold_ms = hold_ms

    def __repr__(self):
        return "Rep(%d, start=%d, peak=%d, end=%d, rom=%.1f, hold=%d)" % (
            self.index, self.start_ms, self.peak_ms, self.end_ms, self.rom_deg, self.hold_ms)


def _rel(qw, qx, qy, qz, w, x, y, z):
    """Rotation from pose q to pose p as (angle_deg, ux, uy, uz) with the unit
    axis in q's sensor frame: conj(q) * p."""
    rw = qw * w + qx * x + qy * y + qz * z
    rx = qw * x - qx * w - qy * z + qz * y
    ry = qw * y + qx * z - qy * w - qz * x
    rz = qw * z - qx * y + qy * x - qz * w
    if rw < 0.0:
        rw = -rw
        rx = -rx
        ry = -ry
        rz = -rz
    s = math.sqrt(rx * rx + ry * ry + rz * rz)
    if s < 1e-9:
        return 0.0, 0.0, 0.0, 0.0
    a = 2.0 * math.atan2(s, rw) * RAD2DEG
    return a, rx / s, ry / s, rz / s


class Detector:
    """Streaming rep/hold detector. ``params``: a dict from ``profiles.get``."""

    def __init__(self, params=None):
        self.params = profiles.get("auto") if params is None else dict(params)
        self.att = Attitude()
        self.reset()

    # ------------------------------------------------------------------ API
    def set_params(self, params):
        """Change parameters (dict of ints); keeps attitude and count."""
        for k in params:
            if k not in profiles.DEFAULTS:
                raise KeyError("unknown parameter %r" % (k,))
            self.params[k] = int(params[k])
        self._load()

    def new_set(self):
        """Start a new set: count back to 0, typical range forgotten."""
        self.count = 0
        self._typ_n = 0

    def reset(self):
        """Forget everything (attitude, rest pose, count)."""
        self.att.reset()
        self._load()
        self.count = 0
        self.angle_deg = 0.0
        self.speed_dps = 0.0
        self.holding = False
        self.hold_ms = 0
        self.in_rep = False
        self.ready = False
        self._t = None
        self._gx = self._gy = self._gz = 0.0
        self._rx = self._ry = self._rz = 0.0
        self._sax = self._say = self._saz = 0.0
        self._n = 0
        self._acc_ms = 0
        self._state = _WAIT
        self._still_ms = 0
        self._rest = [1.0, 0.0, 0.0, 0.0]
        self._cand = [1.0, 0.0, 0.0, 0.0]
        self._has_cand = False
        self._typ = [0.0, 0.0, 0.0, 0.0, 0.0]
        self._typ_n = 0
        self._last_rep_ms = None
        self._quiet_ms = 0
        self._near_ms = 0
        # deepest point between excursions (for the gait test)
        self._gap_deg = 0.0
        self._gap_ms = -100000
        self._gap_u = (0.0, 0.0, 0.0)
        self._pending = None
        self._pend_opp = 0.0
        self._out_reset(0)

    def _load(self):
        p = self.params
        self.att.gain = p["gain_mhz"] / 1000.0
        self._min_rom = float(p["min_rom_deg"])
        self._entry = float(p["entry_deg"])
        self._exit = p["exit_pct"] / 100.0
        self._relf = p["rel_pct"] / 100.0
        self._min_rep = p["min_rep_ms"]
        self._max_hold = p["max_hold_ms"]
        self._still = float(p["still_dps"])
        self._hold = float(p["hold_dps"])
        self._holdf = p["hold_pct"] / 100.0
        self._swingf = p["swing_pct"] / 100.0

    def update(self, t_ms, ax, ay, az, gx, gy, gz):
        """Feed one sample. ``t_ms`` int ms; m/s^2; rad/s. Returns a Rep or None."""
        tp = self._t
        if tp is None:
            self._t = t_ms
            self._gx, self._gy, self._gz = gx, gy, gz
            self.att.init_from_accel(ax, ay, az)
            return None
        dt = t_ms - tp
        if dt <= 0:
            return None
        self._t = t_ms
        if dt <= GAP_MS:
            h = dt * 0.0005
            self._rx += (gx + self._gx) * h
            self._ry += (gy + self._gy) * h
            self._rz += (gz + self._gz) * h
        self._gx = gx
        self._gy = gy
        self._gz = gz
        self._sax += ax
        self._say += ay
        self._saz += az
        self._n += 1
        self._acc_ms += dt
        if self._acc_ms >= TICK_MS:
            return self._tick(t_ms)
        return None

    # ------------------------------------------------------------- internals
    def _tick(self, t):
        dtm = self._acc_ms
        inv = 1.0 / self._n
        att = self.att
        spd = att.step(dtm * 0.001, self._rx, self._ry, self._rz,
                       self._sax * inv, self._say * inv, self._saz * inv)
        self._rx = self._ry = self._rz = 0.0
        self._sax = self._say = self._saz = 0.0
        self._n = 0
        self._acc_ms = 0
        spd *= RAD2DEG
        self.speed_dps = spd
        if spd < self._still:
            self._still_ms += dtm
        else:
            self._still_ms = 0
        w, x, y, z = att.w, att.x, att.y, att.z
        st = self._state
        if st == _WAIT:
            if self._still_ms >= SETTLE_MS:
                self._set_rest(w, x, y, z)
                self._state = _REST
                self.ready = True
                self._quiet_ms = t
            return None
        r = self._rest
        ang, ux, uy, uz = _rel(r[0], r[1], r[2], r[3], w, x, y, z)
        self.angle_deg = ang
        out = None
        pend = self._pending
        if pend is not None:
            # opposite swing after the rep: gait
            pu = pend[6]
            d = -(ux * pu[0] + uy * pu[1] + uz * pu[2]) * ang
            if d > self._pend_opp:
                self._pend_opp = d
            if t - pend[3] >= GAIT_MS:
                self._pending = None
                if self._pend_opp < self._swing_lim(pend[4]):
                    out = self._emit(pend)
        if st == _REST:
            if self._still_ms >= SETTLE_MS:
                self._set_rest(w, x, y, z)
                ang = 0.0
            if ang < self._entry * 0.5:
                self._quiet_ms = t
            if ang > self._gap_deg or t - self._gap_ms > GAIT_MS:
                self._gap_deg = ang
                self._gap_ms = t
                self._gap_u = (ux, uy, uz)
            if ang >= self._entry:
                self._state = _OUT
                self.in_rep = True
                self._out_reset(self._quiet_ms)
                self._peak = ang
                self._peak_ms = t
                self._peak_u = (ux, uy, uz)
            elif self._last_rep_ms is not None and t - self._last_rep_ms > NEW_SET_MS:
                self._typ_n = 0
                self._last_rep_ms = None
            return out
        # ---- _OUT: an excursion from rest is under way
        if ang > self._peak:
            self._peak = ang
            self._peak_ms = t
            self._peak_u = (ux, uy, uz)
        # hold: longest still stretch above hold_pct of the peak
        if spd < self._hold and ang >= self._holdf * self._peak:
            if self._run_start is None:
                self._run_start = t - dtm
                self._run_min = ang
            elif ang < self._run_min:
                self._run_min = ang
            run = t - self._run_start
            self.holding = True
            self.hold_ms = run
        else:
            self._close_run()
            self.holding = False
            self.hold_ms = 0
        exit_a = self._exit * self._peak
        if exit_a < self._entry * 0.5:
            exit_a = self._entry * 0.5
        if ang < exit_a:
            self._near_ms += dtm
        else:
            self._near_ms = 0
        if not self._has_cand:
            if self._still_ms >= CANDIDATE_MS:
                self._set_cand(w, x, y, z, t)
            elif ang < exit_a:
                return self._finish(t, out)
        else:
            c = self._cand
            bang = _rel(c[0], c[1], c[2], c[3], w, x, y, z)[0]
            if bang < self._entry and self._still_ms >= SETTLE_MS:
                c[0], c[1], c[2], c[3] = w, x, y, z   # follow a sagging hold
            if ang < exit_a and (self._still_ms >= SETTLE_MS or self._near_ms >= LINGER_MS):
                return self._finish(t, out)       # came back to dwell at rest
            if bang > self._b_peak:
                self._b_peak = bang
                self._b_peak_ms = t
                if self._b_start is None and bang >= self._entry:
                    self._b_start = self._cand_ms
            exit_b = self._exit * self._b_peak
            if self._b_start is not None and bang < exit_b:
                # a round trip from the candidate pose: it is the new rest
                rep = (self._b_start, self._b_peak_ms, self._b_peak, t, self._b_peak,
                       0, None)
                self._posture(w, x, y, z, t)
                return self._judge(rep, out)
            if self._still_ms >= CANDIDATE_MS and bang >= self._entry:
                self._set_cand(w, x, y, z, t)     # settled at yet another pose
        if t - self._start_ms > self._max_hold + 2 * CANDIDATE_MS:
            self._posture(w, x, y, z, t)          # never came back: new posture
        return out

    def _swing_lim(self, peak):
        lim = self._swingf * peak
        return lim if lim > SWING_FLOOR_DEG else SWING_FLOOR_DEG

    def _set_rest(self, w, x, y, z):
        r = self._rest
        r[0], r[1], r[2], r[3] = w, x, y, z

    def _set_cand(self, w, x, y, z, t):
        c = self._cand
        c[0], c[1], c[2], c[3] = w, x, y, z
        self._has_cand = True
        self._cand_ms = t
        self._b_peak = 0.0
        self._b_peak_ms = t
        self._b_start = None

    def _out_reset(self, start):
        self._start_ms = start
        self._peak = 0.0
        self._peak_ms = start
        self._peak_u = (0.0, 0.0, 0.0)
        self._run_start = None
        self._run_min = 0.0
        self._best_run = 0
        self._best_min = 0.0
        self._has_cand = False
        self._b_start = None
        self._b_peak = 0.0
        self._near_ms = 0

    def _close_run(self):
        rs = self._run_start
        if rs is None:
            return
        run = self._t - rs
        self._run_start = None
        lim = self._holdf * self._peak
        if (run > self._best_run and self._run_min >= lim) or self._best_min < lim:
            self._best_run = run
            self._best_min = self._run_min

    def _posture(self, w, x, y, z, t):
        """The thigh settled in a new pose: make it the rest, no rep."""
        self._set_rest(w, x, y, z)
        self._state = _REST
        self.in_rep = False
        self.holding = False
        self.hold_ms = 0
        self._typ_n = 0
        self._quiet_ms = t
        self._gap_deg = 0.0
        self._out_reset(t)

    def _finish(self, t, out):
        """The excursion came back to rest: judge it as a rep."""
        self._close_run()
        hold = self._best_run if self._best_min >= self._holdf * self._peak else 0
        rep = (self._start_ms, self._peak_ms, self._peak, t, self._peak, hold, self._peak_u)
        self._state = _REST
        self.in_rep = False
        self.holding = False
        self.hold_ms = 0
        self._quiet_ms = t
        self._out_reset(t)
        return self._judge(rep, out)

    def _judge(self, rep, out):
        start, peak_ms, rom, end, peak, hold, u = rep
        # gait: a swing to the opposite side just before the rep
        if u is not None and start - self._gap_ms < GAIT_MS:
            gu = self._gap_u
            d = -(gu[0] * u[0] + gu[1] * u[1] + gu[2] * u[2]) * self._gap_deg
            if d >= self._swing_lim(peak):
                self._gap_deg = 0.0
                return out
        self._gap_deg = 0.0
        self._gap_ms = end
        if peak < self._min_rom or end - start < self._min_rep:
            return out
        if self._typ_n:
            s = sorted(self._typ[:self._typ_n])
            if peak < self._relf * s[len(s) // 2]:
                return out
        if u is None:
            u = (0.0, 0.0, 0.0)
        if self._pending is not None and out is None:
            # the previous rep's gait window is cut short by this one
            out = self._emit(self._pending)
        self._pending = (start, peak_ms, rom, end, peak, hold, u)
        self._pend_opp = 0.0
        return out

    def _emit(self, pend):
        start, peak_ms, rom, end, peak, hold, u = pend
        self.count += 1
        i = self._typ_n
        if i < 5:
            self._typ_n = i + 1
        else:
            i = self.count % 5
        self._typ[i] = peak
        self._last_rep_ms = end
        return Rep(self.count, start, peak_ms, end, rom, hold)

    def flush(self):
        """End of input: emit a rep still waiting for its gait check."""
        pend = self._pending
        self._pending = None
        if pend is not None and self._pend_opp < self._swing_lim(pend[4]):
            return self._emit(pend)
        return None
