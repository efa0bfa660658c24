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
* **Gait**: walking swings the thigh through the rest pose to the other
  side; an excursion that starts right after a fast swing to the opposite
  side larger than ``swing_pct`` % of its range is a stride, not a rep.
* **Anatomy**: an excursion beyond ``MAX_ROM_DEG`` is not hip flexion
  (turning round, rolling over).
"""

import math

from hipflex.core import profiles
from hipflex.core.attitude import Attitude

TICK_MS = 30          # detector step; samples are accumulated in between
GAP_MS = 1000         # longer gaps are not integrated (stream stalled)
SETTLE_MS = 300       # stillness that makes a pose 'dwelt in'
CANDIDATE_MS = 1000   # stillness away from rest that makes a posture candidate
LINGER_MS = 1500      # time near rest (even if not still) that ends a held rep
GAIT_MS = 450         # an opposite swing this soon before a rep makes it a stride
SWING_FLOOR_DEG = 6.0
GAIT_DPS = 40.0       # a stride swings through the rest pose at least this fast
MAX_ROM_DEG = 135.0   # beyond the hip's range: turning round or rolling over
NEW_SET_MS = 60000    # a pause this long starts a new set (typical ROM forgotten)
CREEP_MS = 3000       # time constant of the rest pose following the thigh at rest
ANGLE_MS = 100        # time constant of the excursion angle smoothing
SMOOTH_MS = 250       # time constant of the rate smoothing for stillness
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


def _excursion(r, gx, gy, gz, psi):
    """Excursion from the pose ``r`` = [gx, gy, gz, psi] (rest) to the pose
    now (gravity direction in the sensor frame, heading in rad).

    Returns ``(deg, tilt_deg)``.

    Hip flexion raises the thigh against gravity in every posture but
    side-lying, so the excursion is the change of the gravity direction seen
    by the sensor (``tilt``). Rotation about the vertical (``yaw``) is what a
    standing thigh's axial rotation or a lying leg's sideways drift looks
    like; it counts only where it is all there is, in a horizontal plane
    (side-lying): the excursion is ``max(tilt, yaw - 2 tilt)``.
    """
    c = r[0] * gx + r[1] * gy + r[2] * gz
    cx = r[1] * gz - r[2] * gy
    cy = r[2] * gx - r[0] * gz
    cz = r[0] * gy - r[1] * gx
    tilt = math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), c) * RAD2DEG
    yaw = abs(psi - r[3])
    if yaw > math.pi:
        yaw = 2.0 * math.pi - yaw
    ang = yaw * RAD2DEG - 2.0 * tilt
    if ang < tilt:
        ang = tilt
    return ang, tilt


def _opposite(u, dx, dy, dz):
    """How far (deg) the 'up' displacement (dx, dy, dz) lies on the opposite
    side of the rest pose from the displacement ``u`` (a rep's peak)."""
    n = math.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
    if n < 1e-6:
        return 0.0
    return -(u[0] * dx + u[1] * dy + u[2] * dz) / n * RAD2DEG


class Detector:
    """Streaming rep/hold detector. ``params``: a dict from ``profiles.get``."""

    def __init__(self, params=None):
        self.log = None   # optional callable(t_ms, reason, rom_deg): why excursions were judged
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
        self._fx = self._fy = self._fz = 0.0
        self._rx = self._ry = self._rz = 0.0
        self._sax = self._say = self._saz = 0.0
        self._n = 0
        self._acc_ms = 0
        self._state = _WAIT
        self._ang = 0.0
        self._still_ms = 0
        self._rest = [0.0, 0.0, 1.0, 0.0]
        self._cand = [0.0, 0.0, 1.0, 0.0]
        self._has_cand = False
        self._typ = [0.0, 0.0, 0.0, 0.0, 0.0]
        self._typ_n = 0
        self._last_rep_ms = None
        self._base = 0.0
        self._base_ms = 0
        self._near_ms = 0
        # deepest point between excursions (for the gait test)
        self._gap_deg = 0.0
        self._gap_ms = -100000
        self._gap_u = (0.0, 0.0, 0.0)
        self._tilt_last = 0.0
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
        att.step(dtm * 0.001, self._rx, self._ry, self._rz,
                 self._sax * inv, self._say * inv, self._saz * inv)
        self._rx = self._ry = self._rz = 0.0
        self._sax = self._say = self._saz = 0.0
        self._n = 0
        self._acc_ms = 0
        # angular speed of the smoothed rate vector: tremor and jitter
        # (zero-mean) average out, a slow steady movement does not
        k = dtm / SMOOTH_MS if dtm < SMOOTH_MS else 1.0
        self._fx += (att.wx - self._fx) * k
        self._fy += (att.wy - self._fy) * k
        self._fz += (att.wz - self._fz) * k
        spd = math.sqrt(self._fx * self._fx + self._fy * self._fy + self._fz * self._fz)
        return self.decide(t, dtm, att.gx, att.gy, att.gz, att.psi, spd * RAD2DEG)

    def decide(self, t, dtm, w, x, y, z, spd):
        """One detector step from the attitude stage's output: time ``t`` (ms),
        tick length ``dtm`` (ms), pose (gravity direction ``w, x, y`` in the
        sensor frame and heading ``z`` in rad), smoothed angular speed
        (deg/s). Depends on the thresholds only, so tuning can replay a
        recorded attitude stream through it."""
        self.speed_dps = spd
        if spd < self._still:
            self._still_ms += dtm
        else:
            self._still_ms = 0
        st = self._state
        if st == _WAIT:
            if self._still_ms >= SETTLE_MS:
                self._set_rest(w, x, y, z)
                self._state = _REST
                self.ready = True
                self._base = 0.0
                self._base_ms = t
            return None
        r = self._rest
        raw, tilt = _excursion(r, w, x, y, z)
        # smoothed: a peak is where the thigh got to, not a jolt on the way
        k = dtm / ANGLE_MS if dtm < ANGLE_MS else 1.0
        ang = self._ang + (raw - self._ang) * k
        self._ang = ang
        ux = w - r[0]
        uy = x - r[1]
        uz = y - r[2]
        self.angle_deg = ang
        out = None
        if st == _REST:
            if self._still_ms >= SETTLE_MS:
                # dwelling: this is the rest pose now
                self._set_rest(w, x, y, z)
                ang = 0.0
                self._ang = 0.0
                self._base = 0.0
                self._base_ms = t
            else:
                # near rest but never quite still (a person between reps):
                # the rest pose creeps toward where the thigh is, so gyro
                # drift about the vertical cannot build up between reps
                k = dtm / CREEP_MS
                r[0] += (w - r[0]) * k
                r[1] += (x - r[1]) * k
                r[2] += (y - r[2]) * k
                n = 1.0 / math.sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2])
                r[0] *= n
                r[1] *= n
                r[2] *= n
                d = z - r[3]
                if d > math.pi:
                    d -= 2.0 * math.pi
                elif d < -math.pi:
                    d += 2.0 * math.pi
                r[3] += d * k
            if ang <= self._base:
                self._base = ang
                self._base_ms = t
            self._tilt_last = tilt
            if (ang > self._gap_deg and spd > GAIT_DPS) or t - self._gap_ms > GAIT_MS:
                self._gap_deg = ang
                self._gap_ms = t
                self._gap_u = (ux, uy, uz)
            if ang >= self._base + self._entry:
                self._state = _OUT
                self.in_rep = True
                self._out_reset(self._base_ms)
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
            self._peak_yaw = ang > tilt + 0.01
        d = tilt - self._tilt_last
        self._tilt_path += d if d > 0.0 else -d
        self._tilt_last = tilt
        base = self._base
        rise = self._peak - base
        # hold: the longest still stretch near the top
        if spd < self._hold and ang >= base + self._holdf * rise:
            if self._run_start is None:
                self._run_start = t - dtm
                self._run_min = ang
            elif ang < self._run_min:
                self._run_min = ang
            self.holding = True
            self.hold_ms = t - self._run_start
        else:
            self._close_run()
            self.holding = False
            self.hold_ms = 0
        exit_a = base + self._exit * rise
        if ang < exit_a:
            self._near_ms += dtm
        else:
            self._near_ms = 0
        if not self._has_cand:
            if self._still_ms >= CANDIDATE_MS:
                self._set_cand(w, x, y, z, t)
            elif ang < exit_a:
                return self._finish(t, ang, out)
        else:
            c = self._cand
            bang = _excursion(c, w, x, y, z)[0]
            if bang < self._entry and self._still_ms >= SETTLE_MS:
                c[0], c[1], c[2], c[3] = w, x, y, z   # follow a sagging hold
            if ang < exit_a and (self._still_ms >= SETTLE_MS or self._near_ms >= LINGER_MS):
                return self._finish(t, ang, out)  # came back to dwell at rest
            if bang > self._b_peak:
                self._b_peak = bang
                self._b_peak_ms = t
                if self._b_start is None and bang >= self._entry:
                    self._b_start = self._cand_ms
            if self._b_start is not None and bang < self._exit * self._b_peak:
                # a round trip from the candidate pose: it is the new rest
                rep = (self._b_start, self._b_peak_ms, self._b_peak, t, 0, None)
                self._posture(w, x, y, z, t)
                return self._judge(rep, out)
            if self._still_ms >= CANDIDATE_MS and bang >= self._entry:
                self._set_cand(w, x, y, z, t)     # settled at yet another pose
        if t - self._start_ms > self._max_hold + 2 * CANDIDATE_MS:
            self._posture(w, x, y, z, t)          # never came back: new posture
        return out

    def _swing_lim(self, rom):
        lim = self._swingf * rom
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
        self._peak_yaw = False
        self._tilt_path = 0.0
        self._run_start = None
        self._run_min = 0.0
        self._best_run = 0
        self._best_min = 0.0
        self._has_cand = False
        self._b_start = None
        self._b_peak = 0.0
        self._near_ms = 0

    def _hold_floor(self):
        return self._base + self._holdf * (self._peak - self._base)

    def _close_run(self):
        rs = self._run_start
        if rs is None:
            return
        run = self._t - rs
        self._run_start = None
        lim = self._hold_floor()
        if (run > self._best_run and self._run_min >= lim) or self._best_min < lim:
            self._best_run = run
            self._best_min = self._run_min

    def _posture(self, w, x, y, z, t):
        """The thigh settled in a new pose: make it the rest, no rep."""
        self._ang = 0.0
        if self.log is not None:
            self.log(t, "posture change", self._peak - self._base)
        self._set_rest(w, x, y, z)
        self._state = _REST
        self.in_rep = False
        self.holding = False
        self.hold_ms = 0
        self._typ_n = 0
        self._base = 0.0
        self._base_ms = t
        self._gap_deg = 0.0
        self._out_reset(t)

    def _finish(self, t, ang, out):
        """The excursion came back toward rest: judge it as a rep."""
        self._close_run()
        hold = self._best_run if self._best_min >= self._hold_floor() else 0
        rom = self._peak - self._base
        if self._peak_yaw and self._tilt_path > rom:
            # a turn about the vertical while the thigh's elevation swings back
            # and forth (stepping round): not a horizontal-plane lift
            rom = 0.0
        rep = (self._start_ms, self._peak_ms, rom, t, hold, self._peak_u)
        self._state = _REST
        self.in_rep = False
        self.holding = False
        self.hold_ms = 0
        self._base = ang
        self._base_ms = t
        self._out_reset(t)
        return self._judge(rep, out)

    def _judge(self, rep, out):
        start, peak_ms, rom, end, hold, u = rep
        if self.log is not None:
            self.log(end, "excursion", rom)
        # gait: a swing to the opposite side just before the rep
        gap = self._gap_deg
        gap_ms = self._gap_ms
        self._gap_deg = 0.0
        self._gap_ms = end
        if u is not None and start - gap_ms < GAIT_MS and gap > 0.0:
            if _opposite(u, self._gap_u[0], self._gap_u[1], self._gap_u[2]) >= self._swing_lim(rom):
                if self.log is not None:
                    self.log(end, "gait before", rom)
                return out
        if rom < self._min_rom or end - start < self._min_rep:
            if self.log is not None:
                self.log(end, "small or short", rom)
            return out
        n = self._typ_n
        if n:
            s = sorted(self._typ[:n])
            if rom < self._relf * s[n // 2]:
                if self.log is not None:
                    self.log(end, "small for this set", rom)
                return out
        if rom > MAX_ROM_DEG:
            if self.log is not None:
                self.log(end, "beyond hip range", rom)
            return out
        return self._emit(start, peak_ms, rom, end, hold)

    def _emit(self, start, peak_ms, rom, end, hold):
        self.count += 1
        i = self._typ_n
        if i < 5:
            self._typ_n = i + 1
        else:
            i = self.count % 5
        self._typ[i] = rom
        self._last_rep_ms = end
        return Rep(self.count, start, peak_ms, end, rom, hold)

    def flush(self):
        """End of input. Reps are reported as they end, so nothing waits;
        kept so callers need not know that."""
        return None
