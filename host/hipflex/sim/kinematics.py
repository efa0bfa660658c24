"""Rigid thigh plus soft tissue -> ideal accelerometer and gyroscope signals.

The thigh rotates about the hip; the sensor sits ``distance_m`` down the thigh
and ``radius_m`` out from its axis on the side ``strap_side_deg`` (0 front,
90 lateral, 180 back, 270 medial). Its world position is differentiated
twice on the fine grid, so gravity, tangential and centripetal acceleration
and the hip's own motion all appear in the specific force

    f = d2p/dt2 - g_vec,   g_vec = (0, 0, -9.80665) m/s^2,

which is rotated into the sensor frame. The gyroscope sees the body-frame
angular velocity of the sensor frame [rad/s].
"""

import math

import numpy as np

from hipflex.sim import rotations as rot
from hipflex.sim.motion import hip_rotation, minjerk

G = 9.80665


def band_noise(rng, n, fs, f_lo, f_hi, dims=3):
    """Gaussian noise band-limited to [f_lo, f_hi] Hz, unit rms per column, shape (n, dims)."""
    x = rng.standard_normal((n, dims))
    X = np.fft.rfft(x, axis=0)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    X[(f < f_lo) | (f > f_hi)] = 0.0
    y = np.fft.irfft(X, n, axis=0)
    sd = y.std(axis=0)
    return y / np.where(sd > 0, sd, 1.0)


def bell(u):
    """Smooth pulse on [0, 1]: sin^2(pi u), zero outside."""
    u = np.asarray(u, dtype=float)
    return np.where((u >= 0) & (u <= 1), np.sin(np.pi * u) ** 2, 0.0)


def _smooth(x, m):
    if m <= 1:
        return x
    k = np.ones(m) / m
    pad = np.concatenate([np.full(m, x[0]), x, np.full(m, x[-1])])
    return np.convolve(pad, k, mode="same")[m:-m]


def draw_mount(rng, leg, opts):
    """Random strap placement and sensor orientation; returns a JSON-able dict.

    Any side of the thigh, any of the four in-plane orientations of the board
    (plus up to 10 deg misalignment), chip facing out or in, and up to 15 deg
    tilt out of the skin plane. ``opts`` may fix ``strap_side_deg``,
    ``sensor_distance_m`` and add ``mount_deg`` (rx, ry, rz) [deg].
    """
    side = float(rng.uniform(0.0, 360.0))
    dist = float(rng.uniform(0.10, 0.30))
    radius = float(rng.uniform(0.05, 0.08))
    quarter = int(rng.integers(4))
    delta = float(rng.uniform(-10.0, 10.0))
    flip = bool(rng.random() < 0.15)
    tilt_dir = float(rng.uniform(0.0, 360.0))
    tilt = float(rng.uniform(0.0, 15.0))
    if opts.get("strap_side_deg") is not None:
        side = float(opts["strap_side_deg"])
    if opts.get("sensor_distance_m") is not None:
        dist = float(opts["sensor_distance_m"])
    return dict(strap_side_deg=round(side, 2), distance_m=round(dist, 4), radius_m=round(radius, 4),
                quarter_turns=quarter, misalign_deg=round(delta, 2), chip_faces_skin=flip,
                tilt_deg=round(tilt, 2), tilt_dir_deg=round(tilt_dir, 2),
                extra_deg=[float(v) for v in (opts.get("mount_deg") or (0.0, 0.0, 0.0))])


def mount_geometry(m, leg):
    """Sensor position in thigh coordinates [m] and the sensor->thigh rotation."""
    s = 1.0 if leg == "right" else -1.0
    distal = np.array([0.0, 0.0, -1.0])
    anterior = np.array([1.0, 0.0, 0.0])
    lateral = np.array([0.0, -s, 0.0])
    a = math.radians(m["strap_side_deg"])
    n = math.cos(a) * anterior + math.sin(a) * lateral
    r_s = m["distance_m"] * distal + m["radius_m"] * n
    b = np.cross(n, distal)
    M = np.column_stack([distal, b, n])
    M = M @ rot.rot_z(math.radians(90.0 * m["quarter_turns"] + m["misalign_deg"]))
    if m["chip_faces_skin"]:
        M = M @ rot.rot_x(math.pi)
    td = math.radians(m["tilt_dir_deg"])
    axis = math.cos(td) * distal + math.sin(td) * b
    M = rot.axis_angle(axis, math.radians(m["tilt_deg"])) @ M
    rx, ry, rz = [math.radians(v) for v in m["extra_deg"]]
    M = M @ (rot.rot_z(rz) @ rot.rot_y(ry) @ rot.rot_x(rx))
    return r_s, M, n


def synthesize(b, leg, mount, rng, body_motion=1.0):
    """Ideal signals on the builder's fine grid.

    Returns dict with ``t`` [s], ``acc`` specific force in the sensor frame
    [m/s^2], ``gyr`` [rad/s], ``d_clean`` thigh direction without body
    oscillations (for labels), and ``fs`` [Hz].
    """
    t, th, ph, ps, Rp, p_hip, lvl = b.arrays()
    n = len(t)
    fs = b.fs
    dt = 1.0 / fs
    bm = float(body_motion)
    R_clean = Rp @ hip_rotation(th, ph, ps, leg)
    d_clean = -R_clean[:, :, 2]

    osc = np.zeros((n, 3))
    posc = np.zeros((n, 3))
    # always draw, so body_motion=0 leaves the other random streams unchanged
    lv = np.radians(_smooth(lvl, int(fs)))
    sway = band_noise(rng, n, fs, 0.05, 0.7) * (0.7 * lv)[:, None]
    jit = band_noise(rng, n, fs, 0.7, 4.0) * (0.15 * lv)[:, None]
    sway_p = band_noise(rng, n, fs, 0.05, 0.7) * (0.5 * lv)[:, None] * 0.8
    trem = band_noise(rng, n, fs, 8.0, 12.0, dims=3)
    osc += sway + jit
    posc += sway_p
    for (t0, t1, amp) in b.holds:
        i0, i1 = int(t0 * fs), min(n, int(t1 * fs))
        if i1 - i0 < 4:
            continue
        u = (np.arange(i0, i1) - i0) / fs
        env = minjerk(u / 0.3) * minjerk((u[-1] - u) / 0.3) * (1.0 + 0.5 * u / max(u[-1], 1e-9))
        ax = Rp[i0] @ np.array([0.0, -1.0, 0.0])
        tr = trem[i0:i1]
        osc[i0:i1] += (math.radians(amp) * env)[:, None] * (tr[:, :1] * ax + 0.35 * tr)
    for (t0, dur, axis, amp) in b.rot_pulses:
        i0 = int(t0 * fs)
        m = int(dur * fs)
        if m < 2 or i0 >= n:
            continue
        i1 = min(n, i0 + m)
        u = (np.arange(i0, i1) - i0) / m
        osc[i0:i1] += (bell(u) * math.radians(amp))[:, None] * (Rp[i0] @ axis)
    for (t0, dur, d, amp) in b.pos_pulses:
        i0 = int(t0 * fs)
        m = int(dur * fs)
        if m < 2 or i0 >= n:
            continue
        i1 = min(n, i0 + m)
        u = (np.arange(i0, i1) - i0) / m
        posc[i0:i1] += (bell(u) * amp)[:, None] * (Rp[i0] @ d)
    osc *= bm
    posc *= bm

    # hanging: the body swings about the bar as a damped pendulum driven by
    # the legs' angular acceleration
    swing = np.zeros((n, 3))
    pivot = p_hip + posc
    thdd = np.zeros(n)
    thdd[1:-1] = np.radians(th[2:] - 2 * th[1:-1] + th[:-2]) * fs * fs
    for (t0, t1, beta0, kappa) in b.hangs:
        i0 = int(round(t0 * fs))
        i1 = n if t1 is None else min(n, int(round(t1 * fs)))
        if i1 - i0 < 4:
            continue
        L = 1.25
        w0 = math.sqrt(G / L)
        zeta = 0.06
        beta = math.radians(beta0) * bm
        v = 0.0
        out = np.empty(i1 - i0)
        k = kappa * bm
        for j, i in enumerate(range(i0, i1)):
            a = -w0 * w0 * beta - 2 * zeta * w0 * v - k * thdd[i]
            v += a * dt
            beta += v * dt
            out[j] = beta
        u = (np.arange(i0, i1) - i0) / fs
        out *= minjerk(u / 0.4) * minjerk((u[-1] - u) / 0.3)
        ax = Rp[i0] @ np.array([0.0, 1.0, 0.0])
        swing[i0:i1] = out[:, None] * ax
        pivot[i0:i1] = p_hip[i0] + np.array([0.0, 0.0, L])

    # soft tissue: damped 10-15 Hz oscillation after impacts and sharp stops
    f_w = float(rng.uniform(10.0, 15.0))
    z_w = float(rng.uniform(0.15, 0.3))
    r_s, M, normal = mount_geometry(mount, leg)
    distal = np.array([0.0, 0.0, -1.0])
    tang = np.cross(normal, distal)
    wdisp = np.zeros((n, 3))
    wrot = np.zeros((n, 3))
    win = int(0.7 * fs)
    for (t0, amp) in b.wobbles:
        i0 = int(t0 * fs)
        if i0 >= n or amp <= 0:
            continue
        i1 = min(n, i0 + win)
        tau = (np.arange(i0, i1) - i0) / fs
        f = f_w * rng.uniform(0.9, 1.1)
        w = 2 * math.pi * f
        wd = w * math.sqrt(1 - z_w * z_w)
        x = np.exp(-z_w * w * tau) * np.sin(wd * tau) * (1 - np.exp(-(tau / 0.012) ** 2))
        dvec = normal * rng.uniform(0.5, 1.0) + distal * rng.normal(0, 0.5) + tang * rng.normal(0, 0.3)
        dvec /= np.linalg.norm(dvec)
        rvec = tang * rng.normal(0, 1.0) + distal * rng.normal(0, 0.6)
        rvec /= max(np.linalg.norm(rvec), 1e-9)
        wdisp[i0:i1] += (amp * bm * x)[:, None] * dvec
        wrot[i0:i1] += (amp * bm * 9.0 * x)[:, None] * rvec

    R_thigh = rot.exp_map(swing) @ rot.exp_map(osc) @ R_clean
    p_total = pivot + np.einsum("nij,nj->ni", rot.exp_map(swing), p_hip + posc - pivot)
    p_s = p_total + np.einsum("nij,nj->ni", R_thigh, r_s + wdisp)
    a = np.empty_like(p_s)
    a[1:-1] = (p_s[2:] - 2 * p_s[1:-1] + p_s[:-2]) * fs * fs
    a[0] = a[1]
    a[-1] = a[-2]
    f_world = a + np.array([0.0, 0.0, G])
    R_ws = R_thigh @ rot.exp_map(wrot) @ M
    acc = np.einsum("nji,nj->ni", R_ws, f_world)
    gyr = rot.body_rate(R_ws, fs)
    return dict(t=t, acc=acc, gyr=gyr, d_clean=d_clean, fs=fs,
                tissue=dict(freq_hz=round(f_w, 2), damping=round(z_w, 3)))
