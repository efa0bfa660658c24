"""Attitude filter: where gravity points in the sensor frame, and heading.

A complementary filter small enough for a microcontroller, split the way the
detector uses it (MicroPython-safe: ``math`` only, no allocation per step):

* **gravity direction** ``(gx, gy, gz)``, a unit vector in the sensor frame
  pointing *up*: carried along by the gyro (``dg/dt = g x w``) and pulled
  toward the accelerometer reading with gain ``gain`` (1/s) whenever the
  reading's magnitude is close to 1 g. Because it holds no heading, gyro
  errors cannot hide in a heading and come back later as tilt.
* **heading** ``psi`` (rad): the integral of the angular rate about the
  vertical (``w . g``). Only the gyro sees it; it drifts, so the detector uses
  it relative to a recent reference only.
* **gyro bias** ``(bx, by, bz)`` (rad/s), learned whenever the sensor is
  steady: gyro and accelerometer readings both constant, whatever the pose.
  It is the average over all the steady time seen (the last ``BIAS_TAU_S``
  of it): a zero-rate offset drifts over minutes, while a person at rest
  sways and a slow turn about the vertical passes for steady.
* **gyro scale** ``scale``: between two quasi-static poses, the turn of
  gravity predicted by the gyro alone is compared with the turn the
  accelerometer measured; when the median of the last ``CAL_N`` movements
  says the gyro over- or under-reads by more than ``CAL_TOL`` (a full-scale
  setting read with the wrong sensitivity, a wrong unit, a resampled
  stream), the scale is corrected, within ``SCALE_MIN..SCALE_MAX``, and the
  gravity estimate restarts from the accelerometer. A gyro within its
  datasheet tolerance stays at exactly 1; a corrected scale then follows the
  votes and returns to 1 only when they say 1 (within ``CAL_STEP``). A short
  movement (under ``CAL_SHORT_S``) votes when one sensor saw gravity turn by
  ``CAL_MIN_RAD`` and the other by half that, so small quick lifts calibrate
  an over-reading gyro too; a long one (a walk, whose integration errors add
  up) needs both.

Units: angular rate rad/s, angle increments rad, acceleration m/s^2, time s.
"""

import math

G = 9.80665
# Largest gyro bias accepted (rad/s): the LSM6DS33 zero-rate level is at most
# +-10 dps; 20 dps leaves room for temperature drift and rejects real motion.
BIAS_LIMIT = 0.35
# Once known, the bias is followed only by steady readings this close to it
# (rad/s, summed over axes: about 6 dps; its drift with temperature is far
# slower), averaged over up to BIAS_TAU_S of steady time (s), or, afresh, by
# a reading further off that stays steady longer than BIAS_SURE_S (s): a
# slow, even turn about the vertical also looks steady to the accelerometer,
# but no such turn lasts that long.
BIAS_NEAR = 0.1
BIAS_SURE_S = 10.0
BIAS_TAU_S = 30.0
# Steadiness: gyro within this of its running mean (rad/s, summed over axes:
# about 7 dps, a person at rest jitters) and accelerometer within this of its
# running mean (m/s^2, summed over axes).
STEADY_GYRO = 0.12
STEADY_ACC = 0.25
# Accelerometer trust falls to zero when |a| departs from g by this fraction.
TRUST_BAND = 0.15
# Time constant (ms) of the rate smoothing behind ``speed``.
SMOOTH_MS = 250
_SMOOTH_K = 1000.0 / SMOOTH_MS
_SMOOTH_S = SMOOTH_MS * 0.001
# Gyro scale calibration against gravity: movements between quasi-static
# poses that turn gravity by more than CAL_MIN_RAD (8 deg) compare the turn
# the gyro alone predicts with the one the accelerometer measured.
CAL_MIN_RAD = 0.14
CAL_SHORT_S = 4.0     # a movement shorter than this (s) votes when it turned gravity by
                      # CAL_MIN_RAD by one sensor's account and half that by the other's
CAL_N = 5             # movements that vote on the scale (median)
CAL_TOL = 1.5         # closer to 1 than this, the datasheet scale is kept (votes
                      # scatter +-30 % with lever-arm and body motion)
CAL_STEP = 1.2        # the scale changes only by more than this factor
SCALE_MIN = 0.2
SCALE_MAX = 1.5


class Attitude:
    """Gravity direction, heading and gyro bias. ``gain`` (1/s) sets how fast
    the gravity estimate follows the accelerometer."""

    def __init__(self, gain=4.0):
        self.gain = gain
        self.reset()

    def reset(self):
        self.gx = 0.0
        self.gy = 0.0
        self.gz = 1.0
        self.psi = 0.0
        self.bx = 0.0
        self.by = 0.0
        self.bz = 0.0
        self._sx = self._sy = self._sz = 0.0
        self.speed = 0.0
        self.bias_known = False
        self._btau = 0.6
        self._far_s = 0.0
        self.steady_s = 0.0
        self._mgx = self._mgy = self._mgz = 0.0
        self._max = self._may = self._maz = 0.0
        self._fresh = True
        self.scale = 1.0
        self._fx = self._fy = 0.0
        self._fz = 1.0
        self._ref = [0.0, 0.0, 1.0]
        self._quiet_s = 0.0
        self._move_s = 0.0
        self._moved = False
        self._anorm = 0.0
        self._cal = [1.0] * CAL_N
        self._cal_i = 0
        self._cal_n = 0
        self.ready = False

    def init_from_accel(self, ax, ay, az):
        """Start with gravity along the measured specific force."""
        n = math.sqrt(ax * ax + ay * ay + az * az)
        if n < 1e-6:
            return
        self.gx, self.gy, self.gz = ax / n, ay / n, az / n
        self._max, self._may, self._maz = ax, ay, az
        self.ready = True

    def step(self, dt, rx, ry, rz, ax, ay, az):
        """Advance by one tick of ``dt`` s.

        ``rx, ry, rz``: gyro reading integrated over the tick (rad, bias not
        removed); ``ax, ay, az``: mean accelerometer reading over the tick
        (m/s^2). ``speed`` is left as the angular speed (rad/s) of the
        bias-corrected rate smoothed over SMOOTH_MS.
        """
        if dt <= 0.0:
            return
        inv = 1.0 / dt
        wx = rx * inv
        wy = ry * inv
        wz = rz * inv
        # --- steadiness and gyro bias -------------------------------------
        k = dt * 2.5 if dt < 0.4 else 1.0          # running means, 0.4 s
        if self._fresh:
            self._fresh = False
            k = 1.0
        mgx = self._mgx
        mgy = self._mgy
        mgz = self._mgz
        mgx += (wx - mgx) * k
        mgy += (wy - mgy) * k
        mgz += (wz - mgz) * k
        self._mgx = mgx
        self._mgy = mgy
        self._mgz = mgz
        max_ = self._max
        may = self._may
        maz = self._maz
        max_ += (ax - max_) * k
        may += (ay - may) * k
        maz += (az - maz) * k
        self._max = max_
        self._may = may
        self._maz = maz
        if (abs(wx - mgx) + abs(wy - mgy) + abs(wz - mgz) < STEADY_GYRO
                and abs(ax - max_) + abs(ay - may) + abs(az - maz) < STEADY_ACC):
            self.steady_s += dt
            if self.steady_s > 0.6 and abs(mgx) < BIAS_LIMIT and abs(mgy) < BIAS_LIMIT \
                    and abs(mgz) < BIAS_LIMIT:
                if self.bias_known:
                    # see BIAS_NEAR: a first estimate taken during a slow
                    # turn is corrected by a long still period
                    dx = mgx - self.bx
                    dy = mgy - self.by
                    dz = mgz - self.bz
                    if abs(dx) + abs(dy) + abs(dz) < BIAS_NEAR:
                        # an average over the steady time seen so far, up
                        # to BIAS_TAU_S: body sway averages out, and a slow
                        # turn that passed for steady moves it little
                        tau = self._btau
                        if tau < BIAS_TAU_S:
                            tau += dt
                            self._btau = tau
                        kb = dt / tau
                    else:
                        # a steady rate far from the bias: a new offset only
                        # if it stays put longer than any slow turn lasts
                        far = self._far_s + dt
                        self._far_s = far
                        kb = 0.0
                        if far > BIAS_SURE_S:
                            self._btau = 0.6     # averaged afresh from here
                            kb = dt / 3.0
                    self.bx += dx * kb
                    self.by += dy * kb
                    self.bz += dz * kb
                else:
                    self.bias_known = True
                    self._btau = 0.6     # the steady time this first estimate saw
                    self.bx = mgx
                    self.by = mgy
                    self.bz = mgz
        else:
            self.steady_s = 0.0
            self._far_s = 0.0
        sc = self.scale
        wx = (wx - self.bx) * sc
        wy = (wy - self.by) * sc
        wz = (wz - self.bz) * sc
        n = math.sqrt(ax * ax + ay * ay + az * az)
        self._calibrate(dt, wx, wy, wz, ax, ay, az, n)
        # angular speed of the smoothed rate vector: tremor and jitter
        # (zero-mean) average out, a slow steady movement does not
        k = dt * _SMOOTH_K if dt < _SMOOTH_S else 1.0
        fx = self._sx + (wx - self._sx) * k
        fy = self._sy + (wy - self._sy) * k
        fz = self._sz + (wz - self._sz) * k
        self._sx = fx
        self._sy = fy
        self._sz = fz
        self.speed = math.sqrt(fx * fx + fy * fy + fz * fz)
        gx, gy, gz = self.gx, self.gy, self.gz
        # --- heading: rotation about the vertical ----------------------------
        psi = self.psi + (wx * gx + wy * gy + wz * gz) * dt
        if psi > math.pi:
            psi -= 2.0 * math.pi
        elif psi < -math.pi:
            psi += 2.0 * math.pi
        self.psi = psi
        # --- carry gravity with the gyro: dg = g x w dt -----------------------
        nx = gx + (gy * wz - gz * wy) * dt
        ny = gy + (gz * wx - gx * wz) * dt
        nz = gz + (gx * wy - gy * wx) * dt
        # --- pull toward the accelerometer ------------------------------------
        if n > 1e-6:
            trust = 1.0 - abs(n - G) / (TRUST_BAND * G)
            if trust > 0.0:
                c = self.gain * trust * dt
                if c > 1.0:
                    c = 1.0
                c /= n
                nx += (ax - nx * n) * c
                ny += (ay - ny * n) * c
                nz += (az - nz * n) * c
        m = 1.0 / math.sqrt(nx * nx + ny * ny + nz * nz)
        self.gx = nx * m
        self.gy = ny * m
        self.gz = nz * m

    def _calibrate(self, dt, wx, wy, wz, ax, ay, az, n):
        """Follow gravity with the gyro alone since the last quasi-static
        pose; at the next one, compare with the accelerometer (``n``: |a|).
        The followed vector is not renormalised: angles are taken with
        atan2, which does not care about length."""
        w2 = wx * wx + wy * wy + wz * wz
        if w2 > 1e-4:
            fx, fy, fz = self._fx, self._fy, self._fz
            self._fx = fx + (fy * wz - fz * wy) * dt
            self._fy = fy + (fz * wx - fx * wz) * dt
            self._fz = fz + (fx * wy - fy * wx) * dt
            if w2 > 0.25:
                self._moved = True
        # |a| at rest as this accelerometer reads it (its scale error included)
        an = self._anorm
        if an <= 0.0:
            an = self._anorm = n
        if n < 1e-6 or abs(n - an) > 0.04 * an or w2 > 0.12:
            self._quiet_s = 0.0
            self._move_s += dt
            return
        self._anorm = an + (n - an) * (dt / 2.0 if dt < 2.0 else 1.0)
        self._quiet_s += dt
        if self._quiet_s < 0.12:
            return
        mx = ax / n
        my = ay / n
        mz = az / n
        r = self._ref
        if self._moved:
            self._moved = False
            acc = _angle(r[0], r[1], r[2], mx, my, mz)
            gyr = _angle(r[0], r[1], r[2], self._fx, self._fy, self._fz)
            big = CAL_MIN_RAD
            if self._move_s < CAL_SHORT_S:
                # one short movement (a lift, not a walk whose integration
                # errors add up): a smaller turn on one side is enough
                big = 0.5 * CAL_MIN_RAD
            if (acc > CAL_MIN_RAD and gyr > big) or (gyr > CAL_MIN_RAD and acc > big):
                # the scale this movement asks for (the gyro here was already
                # scaled by self.scale); the last CAL_N of them vote (median)
                q = self.scale * acc / gyr
                cal = self._cal
                cal[self._cal_i] = q
                self._cal_i = (self._cal_i + 1) % CAL_N
                if self._cal_n < CAL_N:
                    self._cal_n += 1
                k = self._cal_n
                if k >= 3:
                    v = sorted(cal[:k])[k // 2]
                    # a gyro within its datasheet tolerance stays at 1; a
                    # wrong full-scale setting is off by 2x or more. Once
                    # corrected, the scale follows the votes and goes back
                    # to 1 only when they say 1
                    band = CAL_TOL if self.scale == 1.0 else CAL_STEP
                    if v < 1.0 / band or v > band:
                        v = SCALE_MIN if v < SCALE_MIN else (SCALE_MAX if v > SCALE_MAX else v)
                    else:
                        v = 1.0
                    if v > CAL_STEP * self.scale or CAL_STEP * v < self.scale:
                        # (a small change is not worth a step.) The gravity
                        # carried with the old scale is off; here, quasi-
                        # static, the accelerometer knows better
                        self.scale = v
                        self.gx, self.gy, self.gz = mx, my, mz
        r[0], r[1], r[2] = mx, my, mz
        self._fx, self._fy, self._fz = mx, my, mz
        self._move_s = 0.0


def _angle(ax, ay, az, bx, by, bz):
    """Angle (rad) between two unit vectors."""
    cx = ay * bz - az * by
    cy = az * bx - ax * bz
    cz = ax * by - ay * bx
    return math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), ax * bx + ay * by + az * bz)
