"""Attitude filter: quaternion gyro integration with accelerometer tilt correction.

A Mahony-type complementary filter, small enough for a microcontroller.
MicroPython-safe: ``math`` only, no allocation in the update path.

The filter holds the orientation ``q = (w, x, y, z)`` that turns vectors from
the sensor frame into a world frame whose +z is up (yaw is arbitrary and only
observable by the gyro). The gyro bias is learned whenever the sensor is
steady: the gyro reading is constant and the accelerometer reading is
constant, whatever its orientation.

Units: angular rate rad/s, angle increments rad, acceleration m/s^2, time s.
"""

import math

G = 9.80665
# Largest gyro bias accepted (rad/s): the LSM6DS33 zero-rate level is at most
# +-10 dps; 20 dps leaves room for temperature drift and rejects real motion.
BIAS_LIMIT = 0.35
# Steadiness: gyro within this of its running mean (rad/s, about 3 dps) and
# accelerometer within this of its running mean (m/s^2).
STEADY_GYRO = 0.05
STEADY_ACC = 0.25


class Attitude:
    """Orientation estimate. Settings: ``gain`` (1/s) of the tilt correction."""

    def __init__(self, gain=0.8):
        self.gain = gain
        self.reset()

    def reset(self):
        self.w = 1.0
        self.x = 0.0
        self.y = 0.0
        self.z = 0.0
        self.bx = 0.0
        self.by = 0.0
        self.bz = 0.0
        self.bias_known = False
        self.steady_s = 0.0
        # running means used for the steadiness test
        self._mgx = self._mgy = self._mgz = 0.0
        self._max = self._may = self._maz = 0.0
        self.ready = False

    def init_from_accel(self, ax, ay, az):
        """Set the orientation so that the measured specific force points up."""
        n = math.sqrt(ax * ax + ay * ay + az * az)
        if n < 1e-6:
            return
        ax /= n
        ay /= n
        az /= n
        # shortest rotation taking (ax, ay, az) onto (0, 0, 1)
        w = 1.0 + az
        if w < 1e-6:  # upside down: rotate 180 deg about x
            self.w, self.x, self.y, self.z = 0.0, 1.0, 0.0, 0.0
        else:
            x = ay
            y = -ax
            m = math.sqrt(w * w + x * x + y * y)
            self.w, self.x, self.y, self.z = w / m, x / m, y / m, 0.0
        self._mgx = self._mgy = self._mgz = 0.0
        self._max, self._may, self._maz = ax * n, ay * n, az * n
        self.ready = True

    def up(self):
        """World 'up' expressed in the sensor frame (unit vector)."""
        w, x, y, z = self.w, self.x, self.y, self.z
        return (2.0 * (x * z - w * y), 2.0 * (y * z + w * x), w * w - x * x - y * y + z * z)

    def step(self, dt, rx, ry, rz, ax, ay, az):
        """Advance by one tick.

        ``dt`` tick length (s); ``rx, ry, rz`` the gyro reading integrated over
        the tick (rad, bias not removed); ``ax, ay, az`` the mean accelerometer
        reading over the tick (m/s^2). Returns the bias-corrected angular speed
        (rad/s) over the tick.
        """
        if dt <= 0.0:
            return 0.0
        inv = 1.0 / dt
        gx = rx * inv
        gy = ry * inv
        gz = rz * inv
        # --- steadiness and gyro bias -------------------------------------
        k = dt / 0.4 if dt < 0.4 else 1.0
        self._mgx += (gx - self._mgx) * k
        self._mgy += (gy - self._mgy) * k
        self._mgz += (gz - self._mgz) * k
        self._max += (ax - self._max) * k
        self._may += (ay - self._may) * k
        self._maz += (az - self._maz) * k
        dg = abs(gx - self._mgx) + abs(gy - self._mgy) + abs(gz - self._mgz)
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
        gx -= self.bx
        gy -= self.by
        gz -= self.bz
        # --- tilt correction from the accelerometer ------------------------
        n = math.sqrt(ax * ax + ay * ay + az * az)
        w, x, y, z = self.w, self.x, self.y, self.z
        if n > 1e-6:
            # trust falls to zero as |a| departs from g by 15 %
            trust = 1.0 - abs(n - G) / (0.15 * G)
            if trust > 0.0:
                vx = 2.0 * (x * z - w * y)
                vy = 2.0 * (y * z + w * x)
                vz = w * w - x * x - y * y + z * z
                kp = self.gain * trust / n
                gx += (ay * vz - az * vy) * kp
                gy += (az * vx - ax * vz) * kp
                gz += (ax * vy - ay * vx) * kp
        # --- integrate q' = q * (0, w/2) -----------------------------------
        h = 0.5 * dt
        hx = gx * h
        hy = gy * h
        hz = gz * h
        nw = w - x * hx - y * hy - z * hz
        nx = x + w * hx + y * hz - z * hy
        ny = y + w * hy - x * hz + z * hx
        nz = z + w * hz + x * hy - y * hx
        m = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
        self.w = nw * m
        self.x = nx * m
        self.y = ny * m
        self.z = nz * m
        return math.sqrt((rx * inv - self.bx) ** 2 + (ry * inv - self.by) ** 2
                         + (rz * inv - self.bz) ** 2)
