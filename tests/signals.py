"""Hand-built IMU signals for unit tests: pure rotations of a rigid sensor.

The thigh rotates about a fixed world axis by ``angle(t)`` (deg). The sensor
frame is the world frame turned by ``mount`` (a rotation matrix), so the
accelerometer reads the world 'up' specific force in sensor axes and the gyro
reads the body-frame rate. No noise unless asked.
"""

import math

import numpy as np

G = 9.80665


def rotmat(axis, deg):
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    th = math.radians(deg)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(th) * K + (1 - math.cos(th)) * K @ K


def min_jerk(tau):
    tau = np.clip(tau, 0.0, 1.0)
    return 10 * tau ** 3 - 15 * tau ** 4 + 6 * tau ** 5


def rep_profile(t, reps, rise=1.0, hold=0.0, fall=1.2, rest=1.5, amp=60.0, lead=3.0):
    """Angle (deg) for ``reps`` identical reps after ``lead`` s of rest.
    Returns (angle, list of (start, peak, end, hold))."""
    ang = np.zeros_like(t)
    labels = []
    t0 = lead
    for _ in range(reps):
        a = amp
        up = (t >= t0) & (t < t0 + rise)
        ang[up] = a * min_jerk((t[up] - t0) / rise)
        h = (t >= t0 + rise) & (t < t0 + rise + hold)
        ang[h] = a
        d0 = t0 + rise + hold
        dn = (t >= d0) & (t < d0 + fall)
        ang[dn] = a * (1 - min_jerk((t[dn] - d0) / fall))
        labels.append((t0, t0 + rise, d0 + fall, hold))
        t0 = d0 + fall + rest
    return ang, labels


def ramp(t, ang, t0, dur, a0, a1):
    """Overwrite ``ang`` (deg) on ``t0 <= t < t0 + dur`` with a smooth
    (minimum-jerk) move from ``a0`` to ``a1``."""
    m = (t >= t0) & (t < t0 + dur)
    ang[m] = a0 + (a1 - a0) * min_jerk((t[m] - t0) / dur)


def path(t, legs, reps=1, period=None, lead=3.0):
    """Angle (deg) that leaves 0 at ``lead`` s and moves smoothly (minimum
    jerk) through ``legs`` = [(duration s, to deg), ...] back to where the
    last leg ends; the whole path ``reps`` times, ``period`` s apart."""
    ang = np.zeros_like(t)
    t0 = lead
    for _ in range(reps):
        s, a0 = t0, 0.0
        for dur, a1 in legs:
            ramp(t, ang, s, dur, a0, a1)
            s, a0 = s + dur, a1
        t0 += period
    return ang


def imu_from_orientations(t, R, noise=0.0, seed=0):
    """Accelerometer (m/s^2) and gyro (rad/s) of a sensor whose
    sensor->world rotation is ``R[i]`` at ``t[i]`` (the body rate from
    successive orientations): for motions about more than one axis.
    ``noise`` scales white sensor noise as in :func:`rotation_signal`."""
    n = len(t)
    acc = np.array([R[i].T @ np.array([0.0, 0.0, G]) for i in range(n)])
    gyr = np.zeros((n, 3))
    for i in range(n - 1):
        d = R[i].T @ R[i + 1]                      # body-frame step
        w = np.array([d[2, 1] - d[1, 2], d[0, 2] - d[2, 0], d[1, 0] - d[0, 1]]) / 2.0
        gyr[i] = w / (t[i + 1] - t[i])
    gyr[-1] = gyr[-2]
    if noise:
        rng = np.random.default_rng(seed)
        acc += rng.normal(0, 0.05 * noise, acc.shape)
        gyr += rng.normal(0, 0.005 * noise, gyr.shape)
    return acc, gyr


def rotation_signal(t, angle_deg, axis=(1, 0, 0), base=None, mount=None, noise=0.0, seed=0):
    """Accel (m/s^2) and gyro (rad/s) in the sensor frame for a rotation by
    angle_deg(t) about world ``axis``, starting from orientation ``base``
    (sensor->world rotation matrix) and sensor mounting ``mount``."""
    base = np.eye(3) if base is None else base
    mount = np.eye(3) if mount is None else mount
    n = len(t)
    acc = np.zeros((n, 3))
    gyr = np.zeros((n, 3))
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    rate = np.gradient(np.radians(angle_deg), t)
    for i in range(n):
        R = rotmat(a, angle_deg[i]) @ base @ mount   # sensor -> world
        acc[i] = R.T @ np.array([0, 0, G])
        gyr[i] = R.T @ (a * rate[i])
    if noise:
        rng = np.random.default_rng(seed)
        acc += rng.normal(0, 0.05 * noise, acc.shape)
        gyr += rng.normal(0, 0.005 * noise, gyr.shape)
    return acc, gyr


def run(t, acc, gyr, params=None):
    from hipflex.core.detector import Detector
    det = Detector(params)
    out = []
    tm = np.rint(t * 1000).astype(int)
    for i in range(len(t)):
        r = det.update(int(tm[i]), *acc[i].tolist(), *gyr[i].tolist())
        if r:
            out.append(r)
    r = det.flush()
    while r:
        out.append(r)
        r = det.flush()
    return out, det
