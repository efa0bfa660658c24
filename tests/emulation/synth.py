"""Synthetic thigh IMU samples, pure Python (runs under MicroPython too).

The thigh hangs from the hip and flexes about the hip's lateral axis by
``theta(t)`` (minimum-jerk rise, optional hold, minimum-jerk fall). The sensor
sits ``radius_m`` down the thigh, so it feels gravity plus tangential and
centripetal acceleration; ``mount`` is the 3x3 rotation from thigh axes to
sensor axes (strap orientation). Output: ``(t_ms, ax, ay, az, gx, gy, gz)``
in m/s^2 and rad/s, sensor frame, as the core expects.

A plan is a list of segments:

* ``("rest", seconds)``
* ``("reps", count, amp_deg, rise_s, hold_s, fall_s, gap_s)``
"""

import math

G = 9.80665

IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
# strap upside down and turned: sensor x = -thigh y, y = -thigh x, z = -thigh z
FLIPPED = ((0.0, -1.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 0.0, -1.0))


def _mj(tau):
    """min-jerk position, velocity and acceleration factors at tau in [0, 1]."""
    t2 = tau * tau
    t3 = t2 * tau
    return (10 * t3 - 15 * t2 * t2 + 6 * t3 * t2,
            30 * t2 - 60 * t3 + 30 * t2 * t2,
            60 * tau - 180 * t2 + 120 * t3)


def timeline(plan):
    """Segments as (t0, t1, kind, params) in seconds, and the rep truth
    [(start_s, peak_s, end_s, hold_s, amp_deg)]."""
    segs = []
    reps = []
    t = 0.0
    for seg in plan:
        if seg[0] == "rest":
            segs.append((t, t + seg[1], 0, None))
            t += seg[1]
        else:
            _, count, amp, rise, hold, fall, gap = seg
            for _ in range(count):
                segs.append((t, t + rise + hold + fall, 1, (amp, rise, hold, fall)))
                reps.append((t, t + rise, t + rise + hold + fall, hold, amp))
                t += rise + hold + fall
                if gap > 0:
                    segs.append((t, t + gap, 0, None))
                    t += gap
    return segs, reps, t


def angle(seg, t):
    """theta (rad), theta' (rad/s), theta'' (rad/s^2) within a segment."""
    t0, t1, kind, p = seg
    if kind == 0:
        return 0.0, 0.0, 0.0
    amp, rise, hold, fall = p
    a = math.radians(amp)
    u = t - t0
    if u < rise:
        x, v, acc = _mj(u / rise)
        return a * x, a * v / rise, a * acc / (rise * rise)
    u -= rise
    if u < hold:
        return a, 0.0, 0.0
    u -= hold
    if u > fall:
        u = fall
    x, v, acc = _mj(u / fall)
    return a * (1 - x), -a * v / fall, -a * acc / (fall * fall)


class _Noise:
    """Deterministic pseudo-Gaussian noise (LCG, sum of 4 uniforms)."""

    def __init__(self, seed):
        self.s = (seed * 2654435761 + 12345) & 0x7FFFFFFF

    def __call__(self):
        tot = 0.0
        for _ in range(4):
            self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
            tot += self.s / 2147483648.0
        return (tot - 2.0) * 1.732


def samples(plan, rate_hz=104, mount=IDENTITY, radius_m=0.2, acc_noise=0.02,
            gyr_noise=0.002, gyr_bias=(0.003, -0.002, 0.001), seed=1,
            duration_s=None):
    """Generate samples for ``plan`` (a generator: constant memory)."""
    segs, _, total = timeline(plan)
    if duration_s is not None:
        total = duration_s
    noise = _Noise(seed)
    m = mount
    n = int(total * rate_hz)
    k = 0
    period = 1.0 / rate_hz
    for i in range(n):
        t = i * period
        while k < len(segs) - 1 and t >= segs[k][1]:
            k += 1
        th, w, al = angle(segs[k], t) if segs else (0.0, 0.0, 0.0)
        c = math.cos(th)
        s = math.sin(th)
        # thigh frame: gravity + lever-arm acceleration of a point radius_m
        # down the thigh rotating about the thigh y axis
        fx = -s * G - radius_m * al
        fy = 0.0
        fz = c * G + radius_m * w * w
        ax = m[0][0] * fx + m[0][1] * fy + m[0][2] * fz + acc_noise * noise()
        ay = m[1][0] * fx + m[1][1] * fy + m[1][2] * fz + acc_noise * noise()
        az = m[2][0] * fx + m[2][1] * fy + m[2][2] * fz + acc_noise * noise()
        gx = m[0][1] * w + gyr_bias[0] + gyr_noise * noise()
        gy = m[1][1] * w + gyr_bias[1] + gyr_noise * noise()
        gz = m[2][1] * w + gyr_bias[2] + gyr_noise * noise()
        yield (int(t * 1000 + 0.5), ax, ay, az, gx, gy, gz)


def rep_count(plan):
    return len(timeline(plan)[1])
