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

Units: angular rate rad/s, angle increments rad, acceleration m/s^2, time s.
"""

import math

G = 9.80665
# Largest gyro bias accepted (rad/s): the LSM6DS33 zero-rate level is at most
# +-10 dps; 20 dps leaves room for temperature drift and rejects real motion.
BIAS_LIMIT = 0.35
# Steadiness: gyro within this of its running mean (rad/s, summed over axes:
# about 7 dps, a person at rest jitters) and accelerometer within this of its
# running mean (m/s^2, summed over axes).
STEADY_GYRO = 0.12
STEADY_ACC = 0.25
# Accelerometer trust falls to zero when |a| departs from g by this fraction.
TRUST_BAND = 0.15


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
        self.wx = self.wy = self.wz = 0.0
        self.bias_known = False
        self.steady_s = 0.0
        self._mgx = self._mgy = self._mgz = 0.0
        self._max = self._may = self._maz = 0.0
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
        (m/s^2). The bias-corrected rate is left in ``wx, wy, wz`` (rad/s).
        """
        if dt <= 0.0:
            return
        inv = 1.0 / dt
        wx = rx * inv
        wy = ry * inv
        wz = rz * inv
        # --- steadiness and gyro bias -------------------------------------
        k = dt / 0.4 if dt < 0.4 else 1.0
        self._mgx += (wx - self._mgx) * k
        self._mgy += (wy - self._mgy) * k
        self._mgz += (wz - self._mgz) * k
        self._max += (ax - self._max) * k
        self._may += (ay - self._may) * k
        self._maz += (az - self._maz) * k
        dg = abs(wx - self._mgx) + abs(wy - self._mgy) + abs(wz - self._mgz)
        da = abs(ax - self._max) + abs(ay - self._may) + abs(az - self._maz)
        if dg < STEADY_GYRO and da < STEADY_ACC:
            self.steady_s += dt
        else:
            self.steady_s = 0.0
        if self.steady_s > 0.6:
            mx, my, mz = self._mgx, self._mgy, self._mgz
            if abs(mx) < BIAS_LIMIT and abs(my) < BIAS_LIMIT and abs(mz) < BIAS_LIMIT:
                if self.bias_known:
                    kb = dt / 3.0
                else:
                    kb = 1.0
                    self.bias_known = True
                self.bx += (mx - self.bx) * kb
                self.by += (my - self.by) * kb
                self.bz += (mz - self.bz) * kb
        wx -= self.bx
        wy -= self.by
        wz -= self.bz
        self.wx = wx
        self.wy = wy
        self.wz = wz
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
        n = math.sqrt(ax * ax + ay * ay + az * az)
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
