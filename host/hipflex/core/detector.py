"""Rep and hold detector for a thigh-worn IMU. Shared by the board and the host.

MicroPython-safe: ``math`` only, integer-millisecond time, bounded state.

Feed one sample at a time::

    det = Detector(profiles.get("auto"))
    rep = det.update(t_ms, ax, ay, az, gx, gy, gz)   # m/s^2, rad/s, sensor frame
    if rep:
        print(rep.rom_deg, rep.hold_ms)

How it works
------------
Samples are integrated onto a fixed 40 ms grid (an interval that crosses a
grid line is split there), so the cost and the decisions do not depend on the
output data rate (26-208 Hz). At each grid line the attitude filter
(``attitude.Attitude``) advances and the detector measures the *excursion*:
how far the thigh has turned from its rest pose, as the change of the gravity
direction seen by the sensor, with the rotation about the vertical counted
only where it dominates (side-lying) and the profile allows it
(``yaw_reps``: not for exercises done with the thigh lying on a seat or a
mat, whose reps tilt it, and where a knee sliding sideways turns it about
the vertical as far as a small lift). Nothing assumes which sensor axis
points where.

* **Rest** is where the thigh dwells: whenever it is still near the rest
  pose, the rest pose follows it; when it is never quite still, the rest
  creeps toward it (so a rest that drifts through a set is followed). A
  lowering that pauses part way dwells too; when the thigh then gets back
  to where the last rep started (the other way from where the reps go) and
  is still there for a moment, that is the rest again.
* **Rep**: the excursion rises ``entry_deg`` above its baseline (the lowest
  point since the last excursion), peaks, and falls back below ``exit_pct`` %
  of its rise. It counts when the rise reaches ``rel_pct`` % of the set's
  typical rise and it lasted ``min_rep_ms`` (or swung further than any
  stride or jolt, ``STRIDE_MAX_DEG``); a set is established by rises
  of at least ``min_rom_deg`` (the typical rise is theirs: the median of
  the last five, or the smaller of the first two; a rep still held back
  when the next one ends is judged again with it), so a smaller rep
  counts only inside such a set (a tiring leg, a lift that falls short),
  while a set of tiny lifts or fidgets never starts.
* **Hold**: from the first to the last still moment (turning slower than
  ``hold_dps`` over a 0.3 s window) near the top (above ``hold_pct`` % of
  the rise; a dip below it shorter than ``DIP_MS`` does not cut the hold:
  a hold that gives way for a moment and is pulled back up is one hold; a
  dip is judged against the top as it stood then, not one a later twitch
  raised),
  corrected for how early and late that window reads a smooth movement as
  still: by the movement's pace up (when it passed half and 70 % of its
  range) and down (the window's fastest turn on the way down: a lowering
  that pauses part way is as quick as a smooth one until it stops). A
  side-lying hold whose top creeps on up (the heading, gyro-only, drifts
  with an offset not yet learned) is held from when the thigh got up to
  the floor of the top it crept to.
* **Posture change**: when the thigh stays still away from rest for a second
  it may be a hold or a new posture. What it does next decides: coming back
  to dwell at the old rest pose makes it a rep with a hold; a round trip from
  the new pose that returns there without visiting the old rest, and is as
  big as a rep (``min_rom_deg``: a twitch in a long hold is not), makes the
  new pose the rest (and that round trip a rep), unless it went from the
  top of the excursion less than half way back toward where the thigh came
  up from (an older remembered pose, or the rest) and straight up again,
  not still for ``CANDIDATE_MS`` at its bottom: the hold gave way for a
  moment (a wobble); a wandering path (two turns or more, then still:
  getting down to the floor) is a new posture, but not a hold under way for
  ``CANDIDATE_MS`` that dips once and comes back up; staying away longer than
  ``max_hold_ms`` is a posture change, and so is an excursion that spends
  more than ``UNHELD_MS`` away from rest besides the time it held still near
  its top (sitting on a chair; a break longer than ``DIP_MS`` that cuts a
  long hold in two leaves both parts held, and the hold reported is the
  longer part). A rep
  followed at once by a movement that settles in a new pose was a step of
  it (bending the knees to get up after a lying set; but not when, inside
  a set under way, the thigh settles behind where the rep started: the
  body settling after it, a hanging body swinging back; nor when nothing
  followed the rep but its own lowering, pausing part way after a round
  trip from a remembered pose closed half way down), and so was one after
  which the thigh comes to rest more than ``EXTEND_DEG`` from where it
  started (no rest shifts that far between reps: getting up from a plank
  through a crouch) and does not get back there within
  ``POST_MS + CANDIDATE_MS`` (a lowering paused part way does); a slow rep
  unlike the set (below its typical range or over 1.5 times it, more than
  ``PACE`` times as long as the rep before it, or with no set yet) waits
  ``POST_MS + CANDIDATE_MS`` for such a movement, the others ``GAIT_MS``.
* **Gait**: walking swings the thigh forward, back through the rest pose
  (by at least ``swing_pct`` % of the swings on both sides) and forward
  again, each within ``GAIT_MS`` of the last and all within ``CYCLE_MS``,
  never further forward than a stride swings (``STRIDE_MAX_DEG``); those are
  strides, and so are quick swings in the ``WALK_MS`` after them that stay
  within that range (a turn on the way, stepping round, keeps the walk
  going as a stride does).
  A single swing back right after a rep (the body's pendulum when hanging)
  is not a rep either, but the rep stands; a swing back is at most
  ``SWING_BACK_MAX`` times the swing before it, unless that one was quick
  and this one goes the other way from the set's reps (the first stride
  after a set of small lifts swings back further than forward).
* **Anatomy**: an excursion beyond ``MAX_ROM_DEG`` is not hip flexion
  (turning round, rolling over, getting up): the rest is found afresh and
  the set is over (a rep still waiting is its last, unless the excursion
  began within ``GAIT_MS`` of it: then it was a step of getting up). A
  turn about the vertical whose elevation swings back and forth more than
  once is stepping round, not a side-lying lift. The hip extends less than
  ``EXTEND_DEG`` past neutral, so two excursions from one rest pose that
  go opposite ways by more than that cannot both be hip flexion: when the
  thigh dwells on the far side from the last big excursion (down through
  a crouch, then out into a plank), it is a new posture, not a hold.
* **Way**: a set's reps go one way from rest, along one line (the hip
  flexes about one axis; a rep measured from its top goes back along it).
  Once a set is under way, an excursion bigger than its typical range
  that sets off more than 60 deg across that line is not one of its reps:
  with the thigh horizontal, turning the foot out rolls the thigh about its
  own axis and tilts the sensor as far as a small lift does. Smaller ones
  are not judged by their way (a rest drifting a degree or two swings the
  direction of a 5 deg lift); side-lying turns have no such line.
* **Sets**: the first rep of a set (none counted for ``SET_GAP_MS``) is
  counted only when a second one like it follows within ``CONFIRM_MS``
  (and, as a set keeps the pace of its reps, within ``PACE_MS`` or ``PACE``
  times the first's length): a lone excursion (crouching to the floor,
  sitting down and getting up, kneeling down and up again) is not a set.
  Two quick back-to-back swings with no pause wait for a third, as that is
  how a walk begins. A new posture (the rest moved by ``min_rom_deg`` or
  more, or no set of three under way) starts a new set, and a first rep
  still waiting from the old posture is forgotten if the rest moved by half
  its range (the crouch on the way down into a plank).
"""

import math

from hipflex.core import profiles
from hipflex.core.attitude import Attitude

TICK_MS = 40          # detector step (a fixed time grid); samples are integrated into it
GAP_MS = 1000         # longer gaps are not integrated (stream stalled)
T_NONE = -(1 << 29)   # 'no sample yet' (ms): farther back than any gap, and a small int
WAIT_MS = 2000        # longest wait for a first still moment
SETTLE_MS = 300       # stillness that makes a pose 'dwelt in'
UNHELD_MS = 12000     # an excursion this long away from rest, besides its holds, is no rep
CANDIDATE_MS = 1000   # stillness away from rest that makes a posture candidate
LINGER_MS = 1500      # time near rest (even if not still) that ends a held rep
GAIT_MS = 450         # swings of a stride follow each other this closely
SWING_FLOOR_DEG = 6.0 # a swing back past rest smaller than this is not a stride
HOLD_BAND_DEG = 2.0   # a hold may sag this far below the peak, however small
DIP_MS = 1500         # a hold may dip below its floor this long (sway, a wobble)
HOLD_WIN = 8          # ticks (0.3 s) over which hold stillness is judged
HOLD_K = 10.0 * 1000.0 / (HOLD_WIN * TICK_MS)  # see _Trip.hold
LEVELS = 17           # rise levels timed: 1 deg and up in steps of sqrt(2) (to 256 deg:
                      # no excursion exceeds 180, so the table never overflows)
LEAVE_DEG = 1.0       # a rep starts when the thigh leaves its baseline by this
POST_MS = 1500        # an excursion starting this soon after a rep may void it
STEP_FAR = 1.5        # settling in a pose later than POST_MS + CANDIDATE_MS after
                      # the rep voids it only this many times farther out than the rep
SET_GAP_MS = 20000    # a rep this long after the last one opens a new set
CONFIRM_MS = 30000    # a set's first rep waits this long for a second
PACE_MS = 10000       # ... and no longer than this and PACE times its own length
PACE = 3
SWING_BACK_MAX = 1.5  # a swing back is at most this many times the swing before
CYCLE_MS = 1800       # a stride cycle (forward to forward) is shorter than this
STRIDE_MS = 1200      # a swing this short, with no pause at the top, may be a stride
WALK_MS = 2500        # after a stride, excursions this soon are walking too
STRIDE_MAX_DEG = 50.0 # ... unless the thigh swings further than walking ever does
PATH_STEP_DEG = 2.0   # resolution of the tilt path (deg)
YAW_PATH = 1.5        # a horizontal-plane lift's tilt path is at most this times its range
REVERSAL_DEG = 8.0    # a change of direction larger than this is a reversal
EXTEND_DEG = 30.0     # the hip extends less than this past its neutral pose
MAX_ROM_DEG = 135.0   # beyond the hip's range: turning round or rolling over
NEW_SET_MS = 60000    # a pause this long starts a new set (typical ROM forgotten)
CREEP_MIN_DEG = 0.5   # closer to rest than this, the rest pose need not creep
CREEP_MS = 3000       # time constant of the rest pose following the thigh at rest
RAD2DEG = 57.29577951308232
SQRT2 = math.sqrt(2.0)


def _mj(s):
    """Share (0..1) of a minimum-jerk move done at ``s`` (0..1) of its time."""
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)


def _mj_at(f):
    """Inverse of _mj: the share of the time at which ``f`` of the move is done."""
    lo = 0.0
    hi = 1.0
    for _ in range(20):
        m = 0.5 * (lo + hi)
        if _mj(m) < f:
            lo = m
        else:
            hi = m
    return 0.5 * (lo + hi)


RISE_SPAN = _mj_at(0.7) - 0.5   # share of a move's time from half to 70 % done
FALL_LEVEL = 0.7     # the fall's pace is read below this share of the rise
SIN_EXTEND = math.sin(EXTEND_DEG / RAD2DEG)

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
    (side-lying): the excursion is ``max(tilt, yaw - tilt / 2)``. A profile
    whose reps always tilt the thigh (``yaw_reps`` 0) has the heading set
    aside before it gets here: then this is the tilt.
    """
    c = r[0] * gx + r[1] * gy + r[2] * gz
    cx = r[1] * gz - r[2] * gy
    cy = r[2] * gx - r[0] * gz
    cz = r[0] * gy - r[1] * gx
    tilt = math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), c) * RAD2DEG
    yaw = abs(psi - r[3])
    if yaw > math.pi:
        yaw = 2.0 * math.pi - yaw
    ang = yaw * RAD2DEG - 0.5 * tilt
    if ang < tilt:
        ang = tilt
    return ang, tilt


class _Trip:
    """An excursion from a reference pose: where it started, its baseline
    (deg), peak (deg, ms) and the longest hold near the top (ms)."""

    def __init__(self):
        self.pose = [0.0, 0.0, 1.0, 0.0]
        self.lv = [0] * LEVELS   # when the rise first reached 1, 1.4, 2, ... deg
        self.live = False
        self.clear(0, 0.0)

    def clear(self, t, base):
        self.start = t
        self.base = base
        self.peak = base
        self.peak_ms = t
        self.peak_u = (0.0, 0.0, 0.0, 0.0)
        self.peak_yaw = False
        self.nlv = 0
        self.nxt = 1.0
        self.tilt_path = 0.0
        self.tilt_last = -1.0
        self.tilt_max = 0.0
        self.turns = 0
        self.ext = base
        self.rising = True
        self.run_start = None
        self.run_end = t
        self.run_min = 0.0
        self.run_min_ms = t
        self.run_floor = 0.0
        self.best_floor = 0.0
        self.best_start = t
        self.best_end = t
        self.best_run = 0
        self.held = 0        # all still runs near the top (ms), the best one too
        self.best_min = 0.0

    def step(self, t, dtm, ang, tilt, arate, det):
        """Follow the excursion angle ``ang`` (deg) one tick; ``arate``
        (deg/s) is how fast it has been changing lately."""
        if ang > self.peak:
            self.peak = ang
            self.peak_ms = t
            self.peak_yaw = ang > tilt + 0.01
            while ang - self.base >= self.nxt:
                self.lv[self.nlv] = t
                self.nlv += 1
                self.nxt *= SQRT2
        # reversals of direction by more than REVERSAL_DEG: a lift has none
        # on the way up, a wandering body (getting down to the floor) several
        if self.rising:
            if ang > self.ext:
                self.ext = ang
            elif ang < self.ext - REVERSAL_DEG:
                self.rising = False
                self.ext = ang
                self.turns += 1
        else:
            if ang < self.ext:
                self.ext = ang
            elif ang > self.ext + REVERSAL_DEG:
                self.rising = True
                self.ext = ang
                self.turns += 1
        # path of the tilt in steps of PATH_STEP_DEG: tremor and sway in a
        # hold do not add up, the swings of stepping round do
        if self.tilt_last < 0.0:
            self.tilt_last = tilt
        if tilt > self.tilt_max:
            self.tilt_max = tilt
        d = tilt - self.tilt_last
        if d > PATH_STEP_DEG or d < -PATH_STEP_DEG:
            self.tilt_path += d if d > 0.0 else -d
            self.tilt_last = tilt
        # hold: from the first to the last still moment of the time spent
        # near the top (a twitch in a long hold does not cut it in two)
        floor = self.hold_floor(det._holdf)
        if ang >= floor:
            live = 0
            if arate < det._hold:
                if self.run_start is None:
                    self.run_start = t - dtm
                    self.run_min = ang
                    self.run_min_ms = t
                self.run_end = t
                self.run_floor = floor
                live = t - self.run_start
            if self.run_start is not None and ang < self.run_min:
                self.run_min = ang
                self.run_min_ms = t
            return live
        if t - self.run_end > DIP_MS:
            self.close_run()
        return 0

    def hold_floor(self, holdf):
        """A hold stays above this (deg): ``holdf`` of the rise, and never
        closer than HOLD_BAND_DEG to the peak (small lifts sag too)."""
        f = self.base + holdf * (self.peak - self.base)
        g = self.peak - HOLD_BAND_DEG
        return f if f < g else g

    def close_run(self):
        rs = self.run_start
        if rs is None:
            return
        self.run_start = None
        # a run is judged against the top as it stood while it was held: a
        # twitch above it afterwards (on the way down) does not undo it. A
        # top that crept up while held (a leg drifting on up, a heading
        # that drifts) leaves the run's start below it: the run is held
        # from when the thigh got up to that floor
        # A dip in the hold that stayed above the floor as it stood then
        # does not undo it either when a twitch later raises the top.
        f = self.run_floor
        if self.run_min < f:
            r = self.reached(f - self.base)
            if r <= self.run_min_ms:
                self.run_min = f
            elif self.peak_yaw and rs < r < self.run_end:
                rs = r
                self.run_min = f
        run = self.run_end - rs
        if self.run_min >= f:
            self.held += run
        if (run > self.best_run and self.run_min >= f) or self.best_min < self.best_floor:
            self.best_run = run
            self.best_min = self.run_min
            self.best_floor = f
            self.best_start = rs
            self.best_end = self.run_end

    def reached(self, level):
        """When (ms) the rise first reached ``level`` deg above its base,
        interpolated between the timed levels."""
        lv = self.lv
        n = self.nlv
        if n == 0:
            return self.start
        lo = 1.0
        for j in range(n - 1):
            hi = lo * SQRT2
            if hi > level:
                return lv[j] + (lv[j + 1] - lv[j]) * (level - lo) / (hi - lo)
            lo = hi
        return lv[n - 1]

    def hold(self, xrate, det):
        """Hold (ms) of the finished excursion; ``xrate`` (deg/s): the
        window's fastest turn since the thigh last came down past
        ``FALL_LEVEL`` of the rise."""
        self.close_run()
        f = self.best_floor - self.base
        if self.best_min < self.best_floor or self.best_run <= 0 or f <= 0.0:
            return 0
        # the rise as it stood when the hold ended (read back from the hold
        # floor; a twitch above it on the way down is no part of the rise)
        rise = f / det._holdf
        if rise < f + HOLD_BAND_DEG:
            rise = f + HOLD_BAND_DEG
        # The stillness window (W = HOLD_WIN ticks) reads a smooth movement
        # as still before it has stopped and after it has started again: a
        # minimum-jerk move of A deg over T s covers 10 A (s/T)^3 in its
        # last (first) s seconds, so the window's rate is below v for the
        # last T k of the way up and the first T k of the way down, with
        # k = (v W / 10 A)^(1/3). The still run thus starts W - T k late and
        # ends T k late. The way up's T is read from when it passed half
        # and 70 % of its range; the way down's from the window's fastest
        # turn on the way (the share of the range it covered in W, centred
        # on the middle of a smooth fall).
        k = math.pow(det._hold / (HOLD_K * rise), 1.0 / 3.0)
        if k > 0.4:
            k = 0.4
        tu = (self.reached(0.7 * rise) - self.reached(0.5 * rise)) / RISE_SPAN
        win = HOLD_WIN * TICK_MS
        td = 0.0
        if xrate > 0.0:
            # the window turns fastest centred on the middle of the fall,
            # [(1 - w) / 2, (1 + w) / 2] of its time, covering y of its range
            y = xrate * win * 0.001 / rise
            w = 2.0 * _mj_at(0.5 + 0.5 * y) - 1.0 if y < 1.0 else 1.0
            td = win / w if w * UNHELD_MS > win else UNHELD_MS
        # a move slower than an unheld excursion may last is no smooth move
        # (a pause on the way up or down): neither T is taken beyond that
        if tu > UNHELD_MS:
            tu = UNHELD_MS
        # (the grid's half-tick lags at both ends of the run cancel out)
        h = self.best_run + win - int(k * (tu + td))
        return h if h > 0 else 0

    def held_ms(self, hold):
        """Time held still near the top (ms) besides a wobble that cut the
        hold in two: all the still runs, the best one counted as ``hold``."""
        return hold + self.held - self.best_run

    def rom(self, t):
        """Range (deg) of the excursion ending at ``t`` (ms); 0 when it was
        a turn about the vertical while the thigh's elevation swung back and
        forth (stepping round), not a horizontal-plane lift. A lift with the
        leg turning out and drifting up sways the elevation once up and once
        down: a path up to about 1.5x its range, or, when the knee drifted up
        further, twice its highest tilt and half its range besides; quick
        swings get no such allowance."""
        rom = self.peak - self.base
        if self.peak_yaw:
            lim = rom
            if t - self.start > STRIDE_MS:
                lim = YAW_PATH * rom
                if lim < 2.0 * self.tilt_max:
                    # however far the knee drifted up, one sway up and one
                    # down is a lift's; stepping round rocks back and forth
                    lim = 2.0 * self.tilt_max + (YAW_PATH - 1.0) * rom
            if self.tilt_path > lim:
                return 0.0
        return rom


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
        """Start a new set: count back to 0, typical range forgotten, a rep
        still waiting (for its stride test or for a second like it) dropped."""
        self.count = 0
        self._typ_n = 0
        self._typ_i = 0
        self._pend = None
        self._first = None
        self._second = None
        self._last_rep_ms = None

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
        self._t = T_NONE      # no sample yet: the first one opens the grid (see _cross)
        self._gx = self._gy = self._gz = 0.0
        self._rx = self._ry = self._rz = 0.0
        self._ax = self._ay = self._az = 0.0
        self._next = T_NONE
        self._cell = 0
        self._state = _WAIT
        self._wait_ms = 0
        self._rest_ms = 0
        self._wpose = [0.0, 0.0, 1.0, 0.0]   # the pose while waiting, averaged over ~1 s
        self._rpose = [0.0, 0.0, 1.0, 0.0] * HOLD_WIN
        self._rt = [-10000] * HOLD_WIN
        self._ri = 0
        self._still_ms = 0
        self._rest = [0.0, 0.0, 1.0, 0.0]
        self._a = _Trip()
        self._c0 = _Trip()
        self._c1 = _Trip()
        self._typ = [0.0, 0.0, 0.0, 0.0, 0.0]
        self._typ_n = 0
        self._typ_i = 0
        self._scale = 1.0
        self._last_rep_ms = None
        self._base = 0.0
        self._base_ms = 0
        self._near_ms = 0
        self._xrate = 0.0
        # deepest point between excursions (for the gait test)
        # the last two excursions (any), for the gait test
        self._x1_end = self._x2_end = self._x1_start = -100000
        self._x1_rom = 0.0
        self._x1_u = self._x2_u = (0.0, 0.0, 0.0)
        # where the last rep started (pose) and the way it went from there
        # (gravity displacement at its peak; zero: no rep to go by), the
        # line the set's reps go along (tangent at rest, recent ones
        # weighing most; zero: none yet) and whether they are side-lying
        # turns (1.0: the line says nothing)
        self._rep_rest = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        self._back_deg = 0.0     # how far the rest is from there (deg; 0: near)
        self._far_pend = 0       # when the thigh settled far from there (ms; 0: not)
        self._pend = None
        self._first = None
        self._second = None
        self._outbox = []
        self._walk_until = -WALK_MS
        self._pend_swing = 0
        self._pend_wait = GAIT_MS
        self._pend_post = POST_MS
        self._last_dur = 0       # the last rep's length (ms)

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
        self._yaw = p["yaw_reps"] != 0

    def update(self, t_ms, ax, ay, az, gx, gy, gz):
        """Feed one sample. ``t_ms`` int ms; m/s^2; rad/s. Returns a Rep or None."""
        tp = self._t
        dt = t_ms - tp
        if dt <= 0:
            return None
        self._t = t_ms
        if t_ms < self._next:
            # the usual case: inside one grid cell (gyro trapezoid; the
            # accelerometer is read at the grid lines: the attitude filter
            # low-passes it far more than averaging would). The sums are in
            # rad/s * 2 ms; a tick scales them to rad
            self._rx += (gx + self._gx) * dt
            self._ry += (gy + self._gy) * dt
            self._rz += (gz + self._gz) * dt
            self._gx = gx
            self._gy = gy
            self._gz = gz
            return None
        return self._cross(tp, dt, t_ms, ax, ay, az, gx, gy, gz)

    def _cross(self, tp, dt, t_ms, ax, ay, az, gx, gy, gz):
        """A sample interval that crosses grid lines is split there (gyro
        linear between the samples, accelerometer held); a tick runs at
        each line."""
        g0x, g0y, g0z = self._gx, self._gy, self._gz
        self._gx = gx
        self._gy = gy
        self._gz = gz
        self._ax = ax
        self._ay = ay
        self._az = az
        if dt > GAP_MS:
            # the first sample, or the stream stalled: nothing to integrate,
            # (re)start the grid; grid lines at whole multiples of TICK_MS
            # are the same at any rate
            self._next = (t_ms // TICK_MS + 1) * TICK_MS
            self._cell = t_ms
            self._rx = self._ry = self._rz = 0.0
            if not self.att.ready:
                self.att.init_from_accel(ax, ay, az)
            return None
        out = None
        a = tp
        nxt = self._next
        inv = 1.0 / dt
        att = self.att
        while nxt <= t_ms:
            # the gyro rate at the line, then the piece up to it
            f = (nxt - tp) * inv
            lx = g0x + (gx - g0x) * f
            ly = g0y + (gy - g0y) * f
            lz = g0z + (gz - g0z) * f
            w = nxt - a
            rx = self._rx + (g0x + lx) * w
            ry = self._ry + (g0y + ly) * w
            rz = self._rz + (g0z + lz) * w
            dtm = nxt - self._cell
            self._cell = nxt
            if dtm > 0:
                # a tick: the attitude stage, then the decisions
                att.step(dtm * 0.001, rx * 0.0005, ry * 0.0005, rz * 0.0005,
                         self._ax, self._ay, self._az)
                r = self.decide(nxt, dtm, att.gx, att.gy, att.gz, att.psi,
                                att.speed * RAD2DEG, att.scale)
                if r is not None:
                    if out is None:
                        out = r
                    else:
                        # one call ran several ticks (a late sample, a
                        # stall) and an earlier one handed out a rep: this
                        # one waits, first in line, for the next call
                        self._outbox.insert(0, r)
                self._rx = self._ry = self._rz = 0.0
            else:
                self._rx = rx
                self._ry = ry
                self._rz = rz
            g0x, g0y, g0z = lx, ly, lz
            a = nxt
            nxt += TICK_MS
        self._next = nxt
        # the rest of the interval opens the next cell
        w = t_ms - a
        self._rx = (g0x + gx) * w
        self._ry = (g0y + gy) * w
        self._rz = (g0z + gz) * w
        return out

    # ------------------------------------------------------------- internals
    def decide(self, t, dtm, w, x, y, z, spd, scale=1.0):
        """One detector step from the attitude stage's output: time ``t`` (ms),
        tick length ``dtm`` (ms), pose (gravity direction ``w, x, y`` in the
        sensor frame and heading ``z`` in rad), smoothed angular speed
        (deg/s) and the gyro scale in force. Depends on the thresholds only,
        so tuning can replay a recorded attitude stream through it."""
        if scale != self._scale and (scale > 1.5 * self._scale or 1.5 * scale < self._scale):
            # the gyro was recalibrated by a large factor: ranges measured
            # before are not comparable with what comes next (those of reps
            # still waiting for a second like them are scaled like the gyro)
            k = scale / self._scale
            for rep in (self._first, self._second, self._pend):
                if rep is not None:
                    rep.rom_deg *= k
            self._scale = scale
            self._typ_n = 0
            self._typ_i = 0
            if self._state == _OUT:
                # the peak so far was measured with the old scale
                a = self._a
                a.peak = a.base
        if not self._yaw:
            z = 0.0     # the heading plays no part (see yaw_reps)
        self.speed_dps = spd
        if spd < self._still:
            self._still_ms += dtm
        else:
            self._still_ms = 0
        st = self._state
        if st == _WAIT:
            self._wait_ms += dtm
            # the first dwell is the rest; a body that never keeps still
            # (hanging from a bar, swaying on its feet, walking off) starts
            # after a while from where it has been on average over the
            # last second (not wherever it happens to be then, nor where it
            # turned slowest: either end of a stride)
            m = self._wpose
            if self._wait_ms == dtm:
                _set(m, w, x, y, z)
            else:
                _follow(m, dtm * 0.001, w, x, y, z)
            if self._still_ms >= SETTLE_MS:
                _set(self._rest, w, x, y, z)
            elif self._wait_ms >= WAIT_MS:
                _set(self._rest, m[0], m[1], m[2], m[3])
            else:
                return None
            self._state = _REST
            self._rest_ms = t
            self.ready = True
            self._base = 0.0
            self._base_ms = t
            return None
        r = self._rest
        ang, tilt = _excursion(r, w, x, y, z)
        self.angle_deg = ang
        # how far the thigh turned over the last HOLD_WIN ticks (deg/s): a box
        # window lags a stop and a start alike, so a hold's length is not
        # skewed the way an exponential average would skew it (only needed
        # during an excursion; the window is kept filled all the time)
        i = self._ri
        rp = self._rpose
        j = 4 * i
        arate = 0.0
        if st == _OUT or ang >= self._base + self._entry:
            dt_win = t - self._rt[i]
            if dt_win > 0:
                dx = w - rp[j]
                dy = x - rp[j + 1]
                dz = y - rp[j + 2]
                dp = z - rp[j + 3]
                if dp > math.pi:
                    dp -= 2.0 * math.pi
                elif dp < -math.pi:
                    dp += 2.0 * math.pi
                arate = math.sqrt(dx * dx + dy * dy + dz * dz + dp * dp) * RAD2DEG * 1000.0 / dt_win
        rp[j] = w
        rp[j + 1] = x
        rp[j + 2] = y
        rp[j + 3] = z
        self._rt[i] = t
        self._ri = (i + 1) % HOLD_WIN
        ob = self._outbox
        out = ob.pop(0) if ob else None
        pend = self._pend
        if pend is not None:
            # a held rep is counted GAIT_MS after it (or after the swing back
            # that followed it) unless a stride pattern turned up; an
            # excursion that began right after it is awaited too, until it
            # comes back: if it settles in a new pose instead, the rep was a
            # step of a posture change (crouching on the way to the floor,
            # bending the knees before sitting up and getting up)
            fp = self._far_pend
            if fp:
                if t - fp >= POST_MS + CANDIDATE_MS:
                    # it stayed there: no rep ends there (getting up from a
                    # plank through a crouch)
                    self._pend = None
                    self._reject(t, "never came back", pend.rom_deg, None)
            elif st == _REST and self._still_ms >= SETTLE_MS and ang > EXTEND_DEG:
                # the thigh came to rest further from where the rep started
                # than a rest ever shifts: a lowering that paused part way
                # goes on down soon (see the far side rule below)
                self._far_pend = t
            else:
                since = self._pend_swing if self._pend_swing > pend.end_ms else pend.end_ms
                if t - since >= self._pend_wait and not (
                        st == _OUT and self._a.start - since < self._pend_post):
                    out = self._merge(out, self._release())
        if st == _REST:
            if self._still_ms >= SETTLE_MS:
                # dwelling: this is the rest pose now
                _set(r, w, x, y, z)
                ang = 0.0
                self._base = 0.0
                self._base_ms = t
            else:
                if ang > CREEP_MIN_DEG:
                    # near rest but never quite still (a person between
                    # reps): the rest creeps toward where the thigh is, so
                    # gyro drift about the vertical cannot build up
                    _follow(r, dtm / CREEP_MS, w, x, y, z)
                if ang <= self._base:
                    self._base = ang
                if ang <= self._base + LEAVE_DEG:
                    self._base_ms = t     # the last moment at the baseline
            if ang >= self._base + self._entry:
                self._state = _OUT
                self.in_rep = True
                self._back_deg = 0.0
                rr = self._rep_rest
                if rr[4] != 0.0 or rr[5] != 0.0 or rr[6] != 0.0:
                    d = _excursion(rr, r[0], r[1], r[2], r[3])[0]
                    if d >= self._entry:
                        self._back_deg = d
                a = self._a
                a.clear(self._base_ms, self._base)
                a.step(t, dtm, ang, tilt, arate, self)
                a.peak_u = (w - r[0], x - r[1], y - r[2])
                self._near_ms = 0
                self._c0.live = self._c1.live = False
            elif self._last_rep_ms is not None and t - self._last_rep_ms > NEW_SET_MS:
                self._close_set()
            return out
        # ---- _OUT: an excursion from rest is under way
        a = self._a
        pk = a.peak
        h = a.step(t, dtm, ang, tilt, arate, self)
        if a.peak > pk:
            a.peak_u = (w - r[0], x - r[1], y - r[2])
        rise = a.peak - a.base
        exit_a = a.base + self._exit * rise
        if ang < a.base + FALL_LEVEL * rise:
            # the fall's pace: the window's fastest turn since the thigh
            # last came down past FALL_LEVEL (a lowering that pauses part
            # way, or ends slowly, does not slow it down)
            if arate > self._xrate:
                self._xrate = arate
            if ang < exit_a:
                self._near_ms += dtm
            else:
                self._near_ms = 0
        else:
            self._xrate = 0.0
            self._near_ms = 0
        c0 = self._c0
        c1 = self._c1
        if not c0.live and not c1.live:
            self.holding = h > 0
            self.hold_ms = h
            if ang < exit_a:
                return self._finish(t, ang, out)
            back = self._back_deg
            if back > 0.0 and (self._far_pend or self._still_ms > 0) and \
                    ang > back - self._entry and not a.peak_yaw and \
                    _away(self._rep_rest, a.peak_u) < 0.0:
                # the thigh went back, the other way from where the reps go,
                # as far as where the last rep started
                self._far_pend = 0
                if self._still_ms > 0 and ang < back + self._entry and \
                        _excursion(self._rep_rest, w, x, y, z)[0] < 2.0 * self._entry:
                    # and is still there (a rest drifts a little between
                    # reps): the rest was taken where a lowering paused part
                    # way (the hip still flexed); this is where it rests
                    _set(r, w, x, y, z)
                    self._to_rest(t, 0.0)
                    return out
            if self._still_ms >= SETTLE_MS and a.turns >= 2 and not (
                    a.turns == 2 and a.run_start is not None
                    and a.run_end - a.run_start >= CANDIDATE_MS):
                # got here by a wandering path (sitting down on the floor,
                # getting into a plank, stepping round): a new posture. Not
                # a hold that gave way once and was pulled back up: its two
                # turns are a dip in a still run near the top that has gone
                # on for a second (a dip below the hold floor, or a longer
                # one, ends that run)
                self._posture(t, (w, x, y, z), "transition")
                return out
            if self._still_ms >= CANDIDATE_MS:
                if self._x1_end >= self._rest_ms and \
                        self._beyond_extension(w - r[0], x - r[1], y - r[2]):
                    # the thigh dwells far the other way from where the last
                    # big excursion from this rest took it: one of the two
                    # would be the hip extending far beyond its range, so
                    # the body moved (kneeling, then out into a plank)
                    self._posture(t, (w, x, y, z), "opposite to the last")
                    return out
                self._candidate(t, w, x, y, z)
        else:
            if ang < exit_a and (self._still_ms >= SETTLE_MS or self._near_ms >= LINGER_MS):
                return self._finish(t, ang, out)  # came back to dwell at rest
            for c in (c0, c1):
                if not c.live:
                    continue
                bang, btilt = _excursion(c.pose, w, x, y, z)
                if bang < self._entry * 0.5:
                    if self._still_ms >= SETTLE_MS:
                        _set(c.pose, w, x, y, z)  # follow a sagging hold
                        bang = 0.0
                    c.clear(t, 0.0)
                    continue
                pk = c.peak
                hc = c.step(t, dtm, bang, btilt, arate, self)
                if c.peak > pk:
                    p = c.pose
                    c.peak_u = (w - p[0], x - p[1], y - p[2], z - p[3])
                if hc > h:
                    h = hc
                if c.peak >= self._min_rom and bang < self._exit * c.peak:
                    hc = c.hold(arate, self)
                    if hc < CANDIDATE_MS and self._wobble(c, c1 if c is c0 else c0):
                        # the hold gave way for a moment: no new pose
                        c.clear(t, 0.0)
                        continue
                    # a round trip from this pose, as big as a rep, without
                    # dwelling at rest: the posture changed, this pose is
                    # the rest now (and the round trip a rep, unless it
                    # went across the way the set's reps go: the foot
                    # turned out and back after the leg slid)
                    rom = c.rom(t)
                    rep = (c.start, c.peak_ms, rom, t, hc, None, c.held_ms(hc))
                    across = self._last_rep_ms is not None and rom > self._typical(3) and \
                        not c.peak_yaw and _across(self._rep_rest, c.peak_u, c.pose)
                    self._posture(t, c.pose, None)
                    if across:
                        return self._reject(t, "across the set's reps", rom, out)
                    return self._judge(rep, out)
            self.holding = h > 0 or self._still_ms >= SETTLE_MS
            self.hold_ms = h
            if self._still_ms >= CANDIDATE_MS:
                self._candidate(t, w, x, y, z)
        if t - a.start > self._max_hold + 2 * CANDIDATE_MS:
            self._posture(t, (w, x, y, z), "posture change")   # never came back
        return out

    def _wobble(self, c, o):
        """Whether the round trip from remembered pose ``c`` (not still at
        its bottom) was a hold giving way: ``c`` is at the top of the
        excursion (at or above its hold floor), and the trip went less than
        half way back toward where the thigh came up from -- the older
        remembered pose ``o`` when there is one (the rest may be from
        another posture), else the rest -- before coming straight up."""
        r = self._rest
        p = c.pose
        top = _excursion(r, p[0], p[1], p[2], p[3])[0]
        if top < self._a.hold_floor(self._holdf):
            return False
        f = r
        if o.live and o.start < c.start:
            f = o.pose
            top = _excursion(f, p[0], p[1], p[2], p[3])[0]
        return 2.0 * c.peak < top and _toward(p, c.peak_u, f, c.peak_yaw)

    def _beyond_extension(self, dx, dy, dz):
        """Whether displacement ``d`` from rest and the last excursion's
        lie on opposite sides of the rest pose, each by more than the hip
        can extend (``EXTEND_DEG`` along the other's line; the directions
        are taken tangent to the sphere at the rest pose)."""
        r = self._rest
        u = self._x1_u
        ax, ay, az = _tangent(u[0], u[1], u[2], r)
        bx, by, bz = _tangent(dx, dy, dz, r)
        c = -(ax * bx + ay * by + az * bz)
        if c <= 0.0:
            return False
        c2 = c * c / (SIN_EXTEND * SIN_EXTEND)
        return c2 >= ax * ax + ay * ay + az * az and c2 >= bx * bx + by * by + bz * bz

    def _candidate(self, t, w, x, y, z):
        """The thigh dwells away from rest: remember the pose, unless it is
        one already remembered (the older of two is replaced)."""
        if self._a.peak - self._a.base < self._entry:
            return
        for c in (self._c0, self._c1):
            if c.live and _excursion(c.pose, w, x, y, z)[0] < self._entry:
                return
        c = self._c1 if self._c0.live and not self._c1.live else self._c0
        if self._c0.live and self._c1.live:
            c = self._c0 if self._c0.start < self._c1.start else self._c1
        _set(c.pose, w, x, y, z)
        c.clear(t, 0.0)
        c.live = True
        self._drop_step(t, w, x, y)

    def _drop_step(self, t, w, x, y):
        """The thigh settles in a new pose (``w, x, y``) right after a rep:
        that rep was a step of the posture change, not a rep."""
        pend = self._pend
        a = self._a
        if pend is None or a.start - pend.end_ms >= self._pend_post \
                or pend.hold_ms >= CANDIDATE_MS:
            # (a rep held still at the top for a while was meant, even if
            # the thigh then settles a little away from where it started)
            return
        quick = a.start - pend.end_ms < GAIT_MS and t - pend.end_ms < POST_MS + CANDIDATE_MS
        if quick and a.start == pend.end_ms:
            # no movement followed the rep: the rep was a round trip from a
            # remembered pose that closed half way down, and this is its
            # lowering going on and pausing part way (the first rep after
            # lying down); whether the thigh then gets back to where it
            # started is for the far-from-start test to see
            quick = False
        if quick and self._last_rep_ms is not None and self._settled_behind(w, x, y):
            # inside a set under way, a thigh that settles behind where the
            # rep started is the body settling after it (a plank sags, a
            # hanging body swings back, a lunge steps back), not a step
            # on to somewhere new
            quick = False
        # a slower settling is a posture change only if it takes the thigh
        # far beyond the rep: the next rep of a quick set may start at once
        # and be held
        if quick or a.peak - a.base > STEP_FAR * pend.rom_deg:
            self._pend = None
            self._reject(t, "step of a posture change", pend.rom_deg, None)

    def _settled_behind(self, w, x, y):
        """Whether pose ``w, x, y`` lies behind where the last rep started:
        the other way from where it went, within 60 deg of straight back."""
        rr = self._rep_rest
        dx = w - rr[0]
        dy = x - rr[1]
        dz = y - rr[2]
        a = _away(rr, (dx, dy, dz))
        return a < 0.0 and 4.0 * a * a > (dx * dx + dy * dy + dz * dz) * (
            rr[4] * rr[4] + rr[5] * rr[5] + rr[6] * rr[6])

    def _typical(self, least):
        """The set's typical range (deg): the median of the last excursions
        that reached ``min_rom_deg``, or the smaller of two (0 until there
        are ``least``)."""
        n = self._typ_n
        if n < least:
            return 0.0
        if n == 2:
            t = self._typ
            return t[0] if t[0] < t[1] else t[1]
        return sorted(self._typ[:n])[(n - 1) // 2]

    def _close_set(self):
        """The set is over: its typical range is forgotten and the next
        rep opens a new one (waiting for a second like it)."""
        _forget_rep(self._rep_rest)
        self._typ_n = 0
        self._typ_i = 0
        self._last_rep_ms = None

    def _swing_lim(self, rom):
        lim = self._swingf * rom
        return lim if lim > SWING_FLOOR_DEG else SWING_FLOOR_DEG

    def _posture(self, t, pose, why):
        """The thigh settled in a new pose: make it the rest (no rep)."""
        if why:
            self._drop_step(t, pose[0], pose[1], pose[2])
        if self.log is not None and why:
            self.log(t, why, self._a.peak - self._a.base)
        # a new posture starts a new set: a rep still waiting is settled
        # first, then the next one must be confirmed by a second like it;
        # a first rep still unconfirmed is forgotten if the rest moved by
        # half its range (crouching on the way into a plank). A rest that
        # moved less than min_rom_deg during a set (the leg slid a little
        # between reps) is the same posture: the set goes on
        if self._pend is not None:
            r = self._release()
            if r is not None:
                self._outbox.append(r)
        moved = _excursion(self._rest, pose[0], pose[1], pose[2], pose[3])[0]
        f = self._first
        if f is not None and 2.0 * moved > f.rom_deg:
            self._first = self._second = None
        if moved >= self._min_rom or self._typ_n < 3:
            self._close_set()
        _set(self._rest, pose[0], pose[1], pose[2], pose[3])
        _forget_rep(self._rep_rest)
        self._rest_ms = t
        self._to_rest(t, 0.0)

    def _to_rest(self, t, base):
        """No excursion under way any more; the baseline is ``base`` deg."""
        self._state = _REST
        self.in_rep = False
        self.holding = False
        self.hold_ms = 0
        self._base = base
        self._base_ms = t
        self._c0.live = self._c1.live = False

    def _finish(self, t, ang, out):
        """The excursion came back toward rest: judge it as a rep."""
        a = self._a
        h = a.hold(self._xrate, self)
        rep = (a.start, a.peak_ms, a.rom(t), t, h, a.peak_u, a.held_ms(h))
        self._to_rest(t, ang)
        return self._judge(rep, out)

    def _judge(self, rep, out):
        """Decide whether a finished excursion is a rep. A rep is held back
        for ``GAIT_MS`` (the stride test after it); returns a Rep whose wait
        is over, or None."""
        start, peak_ms, rom, end, hold, u, held = rep
        if self.log is not None:
            self.log(end, "excursion", rom)
        # gait: walking swings the thigh forward, back through the rest pose
        # and forward again, each swing right after the other
        e1, u1, s1, e2, u2 = self._x1_end, self._x1_u, self._x1_start, self._x2_end, self._x2_u
        r1 = self._x1_rom
        self._x2_end, self._x2_u = e1, u1
        self._x1_end, self._x1_start, self._x1_rom = end, start, rom
        self._x1_u = u if u is not None else (0.0, 0.0, 0.0)
        if start < self._walk_until and rom < STRIDE_MAX_DEG:
            # strides a moment ago: still walking (turning, changing pace);
            # only quick swings with no pause, or stepping round (see
            # _Trip.rom), keep it so (a knee driven up higher than any
            # walking stride swings is a rep again)
            if (end - start < STRIDE_MS and hold == 0) or rom <= 0.0:
                self._walk_until = end + WALK_MS
            return self._reject(end, "walking", rom, out)
        if u is not None and start - e1 < GAIT_MS and self._opposed(u1, u):
            if s1 - e2 < GAIT_MS and end - e2 < CYCLE_MS and rom < STRIDE_MAX_DEG \
                    and not self._opposed(u2, u) and self._opposed(u2, u1):
                # forward, back, forward within one stride cycle, the swing
                # back a fair share of both swings forward, and no further
                # forward than a stride swings: walking (a slower
                # cycle is the body's pendulum, hanging from a bar; a small
                # kick back after a big drive is a climber's leg overshooting);
                # the first swing, held back as a rep, was a stride too
                self._walk_until = end + WALK_MS
                self._first = self._second = None
                pend = self._pend
                if pend is not None and pend.end_ms == e2:
                    self._pend = None
                    self._reject(end, "stride", pend.rom_deg, None)
                return self._reject(end, "walking", rom, out)
            if rom <= SWING_BACK_MAX * r1 or (
                    e1 - s1 < STRIDE_MS and rom < STRIDE_MAX_DEG
                    and _away(self._rep_rest, u) < 0.0):
                # the thigh swung back past rest after the last excursion (a
                # swing back is not much bigger than the swing before it,
                # unless that was quick and this goes the other way from
                # the set's reps: a first stride's backswing after a set)
                pend = self._pend
                if pend is not None and pend.end_ms == e1:
                    self._pend_swing = end     # the held rep swung back: wait on
                return self._reject(end, "swing back", rom, out)
        if end - start < self._min_rep and rom < STRIDE_MAX_DEG:
            # a jolt of the strap or a stumble is quick, but no such thing
            # swings the thigh further than a stride: a climber's drive does
            return self._reject(end, "small or short", rom, out)
        if end - start - held > UNHELD_MS:
            # long away from rest without holding still: sitting on a chair
            # or kneeling and moving about, not a lift
            return self._reject(end, "dwelt, not held", rom, out)
        if u is not None and self._last_rep_ms is not None and rom <= MAX_ROM_DEG \
                and rom > self._typical(3) and not self._a.peak_yaw \
                and _across(self._rep_rest, u, self._rest):
            return self._reject(end, "across the set's reps", rom, out)
        # relative to the set: the last excursions that were big enough
        # (counted or not), so one early outlier cannot mute a whole set;
        # from the second on (a lift a fifth the size of the two before it
        # is no rep of theirs: stepping between two lunges)
        typ = self._typical(2)
        n = self._typ_n
        if rom < self._min_rom:
            # below the floor: only inside a set of bigger reps, judged
            # against them (it does not join the typical rise)
            if typ <= 0.0 or rom < self._relf * typ:
                return self._reject(end, "small or short", rom, out)
            return self._accept(start, peak_ms, end, rom, hold, out, u)
        if rom > MAX_ROM_DEG:
            # beyond the hip's range: the body turned round, rolled over or
            # got up, and the thigh is on its way somewhere new; the next
            # pose it dwells in is the rest, and a new set begins
            pend = self._pend
            if pend is not None:
                if start - pend.end_ms < GAIT_MS:
                    # it went straight on into this: a step of getting up
                    self._pend = None
                    self._reject(end, "step of a posture change", pend.rom_deg, None)
                else:
                    out = self._merge(out, self._release())   # the set's last rep
            self._state = _WAIT
            self._wait_ms = 0
            self._close_set()
            return self._reject(end, "beyond hip range", rom, out)
        i = self._typ_i
        self._typ[i] = rom
        self._typ_i = (i + 1) % 5
        if n < 5:
            self._typ_n = n + 1
        if rom < self._relf * typ:
            return self._reject(end, "small for this set", rom, out)
        return self._accept(start, peak_ms, end, rom, hold, out, u)

    def _accept(self, start, peak_ms, end, rom, hold, out, u):
        """A rep: held back for the stride test after it."""
        r = self._rest
        rr = self._rep_rest
        _set(rr, r[0], r[1], r[2], r[3])
        if u is None:
            _forget_rep(rr)
        else:
            rr[4] = u[0]
            rr[5] = u[1]
            rr[6] = u[2]
            if self._a.peak_yaw:
                rr[10] = 1.0
            else:
                # the way the set's reps go: their directions from rest
                # (tangent to the sphere there), the latest weighing most
                x, y, z = _tangent(u[0], u[1], u[2], r)
                n = math.sqrt(x * x + y * y + z * z)
                if rr[7] * x + rr[8] * y + rr[9] * z < 0.0:
                    n = -n    # a line: a rep measured from its top counts too
                if n != 0.0:
                    rr[7] = 0.5 * rr[7] + x / n
                    rr[8] = 0.5 * rr[8] + y / n
                    rr[9] = 0.5 * rr[9] + z / n
        self._far_pend = 0
        if self._pend is not None:
            out = self._merge(out, self._release())   # its wait is cut short
        self._pend = Rep(0, start, peak_ms, end, rom, hold)
        # a slow rep unlike the set's typical range (short of it or half as
        # big again) or pace (over PACE times as long as the last rep), or
        # with no set yet to compare with, may be the first step of getting
        # up (bending the knees to sit up, the knee under the chest to rise
        # from a plank): it waits longer for what follows (quick swings are
        # not how anyone gets up)
        typ = self._typical(3)
        dur = end - start
        if dur >= STRIDE_MS and (rom < typ or rom > 1.5 * typ or dur > PACE * self._last_dur):
            self._pend_wait = self._pend_post = POST_MS + CANDIDATE_MS
        else:
            self._pend_wait = GAIT_MS
            self._pend_post = POST_MS
        self._last_dur = dur
        self._pend_swing = end
        return out

    def _opposed(self, u1, u):
        """Whether displacement ``u`` lies on the other side of the rest pose
        from ``u1`` by at least ``swing_pct`` % of the larger swing."""
        n1 = math.sqrt(u1[0] * u1[0] + u1[1] * u1[1] + u1[2] * u1[2])
        n = math.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
        if n1 < 1e-6 or n < 1e-6:
            return False
        c = -(u1[0] * u[0] + u1[1] * u[1] + u1[2] * u[2])
        big = n1 if n1 > n else n
        lim = self._swing_lim(big * RAD2DEG)
        # each side must have swung that far along the line of the other
        return c / n1 * RAD2DEG >= lim and c / n * RAD2DEG >= lim

    def _release(self):
        """The held-back rep passed the stride test: count it, unless it
        opens a set. The first rep of a set waits for a second one like it
        (range within a factor 2, duration within a factor 3, starting within
        CONFIRM_MS and at the set's pace, see _alike): a lone excursion --
        crouching to the floor, sitting down and getting up again -- is not
        a set."""
        rep = self._pend
        self._pend = None
        if rep.rom_deg < self._relf * self._typical(3):
            # the excursions since (a rep cut its wait short) show the set's
            # range better than those before it did: small for this set
            return self._reject(rep.end_ms, "small for this set", rep.rom_deg, None)
        first = self._first
        if self._last_rep_ms is None or rep.start_ms - self._last_rep_ms > SET_GAP_MS:
            second = self._second
            if first is not None and self._alike(first, rep):
                if second is None and self._quick(first, rep):
                    # two quick swings back to back: the first strides of a
                    # walk look just like this; a third like them settles it
                    self._second = rep
                    return None
                self._first = self._second = None
                first = self._count(first)
                if second is not None:
                    self._outbox.append(self._count(second))
                self._outbox.append(self._count(rep))   # handed out next steps
                return first
            if first is not None:
                if rep.rom_deg * 2.0 < first.rom_deg and rep.start_ms - first.end_ms <= CONFIRM_MS:
                    # much smaller: settling after the first rep, not a
                    # rival to it; the first goes on waiting
                    self._reject(rep.end_ms, "unlike the first", rep.rom_deg, None)
                    return None
                self._reject(rep.end_ms, "lone excursion", first.rom_deg, None)
            self._first = rep
            self._second = None
            return None
        return self._count(rep)

    def _quick(self, a, b):
        """Back-to-back swings with no pause: as walking begins."""
        return (b.start_ms - a.end_ms < GAIT_MS and a.hold_ms == 0 and b.hold_ms == 0
                and a.end_ms - a.start_ms < STRIDE_MS and b.end_ms - b.start_ms < STRIDE_MS)

    def _merge(self, out, rep):
        """At most one rep leaves per step; a second waits in the outbox."""
        if rep is None:
            return out
        if out is None:
            return rep
        self._outbox.append(rep)
        return out

    def _alike(self, a, b):
        # a set keeps the pace of its reps: a second rep long after the
        # first (kneeling down, then getting up again) does not confirm it
        gap = b.start_ms - a.end_ms
        if gap > CONFIRM_MS or (gap > PACE_MS and gap > PACE * (a.end_ms - a.start_ms)):
            return False
        if not (0.5 * a.rom_deg <= b.rom_deg <= 2.0 * a.rom_deg):
            return False
        da = a.end_ms - a.start_ms
        db = b.end_ms - b.start_ms
        return da <= 3 * db and db <= 3 * da

    def _count(self, rep):
        self.count += 1
        rep.index = self.count
        self._last_rep_ms = rep.end_ms
        return rep

    def _reject(self, t, why, rom, out):
        if self.log is not None:
            self.log(t, why, rom)
        return out

    def flush(self):
        """End of input: hand out what is still waiting, one rep per call
        (call until it returns None). A set's first rep with nothing like it
        after it stays uncounted."""
        ob = self._outbox
        if self._pend is not None and self._far_pend:
            self._pend = None    # the thigh had not come back when the input ended
        if self._pend is not None:
            n = len(ob)
            r = self._release()
            if r is not None:
                ob.insert(n, r)
        return ob.pop(0) if ob else None


def _away(rr, u):
    """Displacement ``u`` along the last rep's way from rest (``rr[4:7]``):
    negative when it goes the other way."""
    return rr[4] * u[0] + rr[5] * u[1] + rr[6] * u[2]


def _across(rr, u, r):
    """Whether displacement ``u`` from rest pose ``r`` goes across the way
    the set's reps go (``rr[7:10]``; more than 60 deg from its line); never
    for side-lying turns. The directions are taken tangent to the sphere at
    the rest pose (a chord to a far pose leans toward the rest)."""
    if rr[10]:
        return False
    ax, ay, az = _tangent(rr[7], rr[8], rr[9], r)
    bx, by, bz = _tangent(u[0], u[1], u[2], r)
    a = ax * bx + ay * by + az * bz
    n = (ax * ax + ay * ay + az * az) * (bx * bx + by * by + bz * bz)
    return n > 0.0 and 4.0 * a * a < n


def _toward(p, u, r, yaw):
    """Whether displacement ``u`` (gravity direction and heading) from pose
    ``p`` sets off toward pose ``r``: within 60 deg of the way there, or,
    for a turn about the vertical (``yaw``), the way the heading goes."""
    if yaw:
        # (only when the way back is a turn about the vertical too: from a
        # rest in another posture, the heading says nothing)
        if _excursion(r, p[0], p[1], p[2], r[3])[1] > EXTEND_DEG:
            return False
        # (the sines have the signs of the two turns, wrapped to +-pi)
        return math.sin(r[3] - p[3]) * math.sin(u[3]) > 0.0
    ax, ay, az = _tangent(u[0], u[1], u[2], p)
    bx, by, bz = _tangent(r[0] - p[0], r[1] - p[1], r[2] - p[2], p)
    a = ax * bx + ay * by + az * bz
    return a > 0.0 and 4.0 * a * a > (ax * ax + ay * ay + az * az) * (bx * bx + by * by + bz * bz)


def _tangent(x, y, z, r):
    """Displacement ``x, y, z`` from the unit vector ``r`` (a pose's
    gravity direction) made tangent to the sphere there: the direction a
    move from ``r`` set off in, whatever its length."""
    k = x * r[0] + y * r[1] + z * r[2]
    return x - k * r[0], y - k * r[1], z - k * r[2]


def _forget_rep(rr):
    rr[4] = rr[5] = rr[6] = rr[7] = rr[8] = rr[9] = rr[10] = 0.0


def _follow(p, k, w, x, y, z):
    """Move pose ``p`` (gravity direction and heading) the share ``k`` of the
    way toward ``w, x, y, z``, the direction kept a unit vector."""
    p[0] += (w - p[0]) * k
    p[1] += (x - p[1]) * k
    p[2] += (y - p[2]) * k
    n = 1.0 / math.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
    p[0] *= n
    p[1] *= n
    p[2] *= n
    d = z - p[3]
    if d > math.pi:
        d -= 2.0 * math.pi
    elif d < -math.pi:
        d += 2.0 * math.pi
    p[3] += d * k


def _set(p, w, x, y, z):
    p[0] = w
    p[1] = x
    p[2] = y
    p[3] = z
