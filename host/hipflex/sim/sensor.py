"""LSM6DS-style sampling and sensor errors.

Figures follow the LSM6DS33 / LSM6DS3TR-C / LSM6DSOX datasheets:

* accelerometer full scale +-2/4/8/16 g at 0.061/0.122/0.244/0.488 mg/LSB,
  zero-g offset up to ~+-40 mg, noise density ~90-160 ug/sqrt(Hz);
* gyroscope full scale +-125/250/500/1000/2000 dps at
  4.375/8.75/17.5/35/70 mdps/LSB, zero-rate level a few dps (+-10 dps max on
  the LSM6DS33), noise density ~4-7 mdps/sqrt(Hz);
* sensitivity tolerance ~+-1-2 %, output data rates 12.5-833 Hz (26, 52,
  104, 208 used here), ODR accuracy ~+-1 %;
* 16-bit two's complement output, so readings clip at the full scale.

The host adds timestamp jitter (a few ms), drops isolated samples and
sometimes stalls (gaps up to 250 ms). Timestamps stay strictly increasing.
"""

import math

import numpy as np

G = 9.80665
ACC_LSB_MG = {2: 0.061, 4: 0.122, 8: 0.244, 16: 0.488}
GYR_LSB_MDPS = {125: 4.375, 250: 8.75, 500: 17.5, 1000: 35.0, 2000: 70.0}


def draw_sensor(rng, opts, duration):
    """Random part-to-part errors and link behaviour; JSON-able dict.

    ``opts`` may fix ``accel_fs_g`` and ``gyro_fs_dps``. Units are in the
    key names (mg, dps, percent, ug/sqrt(Hz), mdps/sqrt(Hz), ms).
    """
    afs = [4, 8, 8, 16][int(rng.integers(4))]
    gfs = [1000, 2000][int(rng.integers(2))]
    d = dict(
        accel_fs_g=afs,
        gyro_fs_dps=gfs,
        accel_bias_mg=[float(v) for v in np.clip(rng.normal(0, 15.0, 3), -40, 40).round(2)],
        gyro_bias_dps=[float(v) for v in np.clip(rng.normal(0, 1.2, 3), -3.5, 3.5).round(3)],
        gyro_bias_warmup_dps=[float(v) for v in rng.normal(0, 0.15, 3).round(3)],
        gyro_warmup_s=float(round(rng.uniform(20, 90), 1)),
        accel_scale_pct=[float(v) for v in rng.uniform(-1.5, 1.5, 3).round(3)],
        gyro_scale_pct=[float(v) for v in rng.uniform(-1.5, 1.5, 3).round(3)],
        cross_axis_pct=[float(v) for v in rng.normal(0, 0.4, 6).round(3)],
        accel_noise_ug_rthz=float(round(rng.uniform(90, 160), 1)),
        gyro_noise_mdps_rthz=float(round(rng.uniform(4.0, 7.0), 2)),
        odr_error_pct=float(round(rng.uniform(-1.0, 1.0), 3)),
        jitter_ms=float(round(rng.uniform(0.5, 2.5), 2)),
        drop_prob=float(round(rng.uniform(0.0, 0.008), 4)),
        stalls=int(min(3, rng.poisson(duration / 60.0))),
    )
    if opts.get("accel_fs_g") is not None:
        v = int(opts["accel_fs_g"])
        if v not in ACC_LSB_MG:
            raise ValueError("accel full scale must be one of %s g" % sorted(ACC_LSB_MG))
        d["accel_fs_g"] = v
    if opts.get("gyro_fs_dps") is not None:
        v = int(opts["gyro_fs_dps"])
        if v not in GYR_LSB_MDPS:
            raise ValueError("gyro full scale must be one of %s dps" % sorted(GYR_LSB_MDPS))
        d["gyro_fs_dps"] = v
    return d


def _boxcar(x, m):
    """Centred moving average over ``m`` samples along axis 0 (the sensor's digital filter)."""
    if m <= 1:
        return x
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
    h = m // 2
    idx = np.arange(len(x))
    lo = np.clip(idx - h, 0, len(x))
    hi = np.clip(idx - h + m, 0, len(x))
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def quantise(x, lsb, clip=True):
    """Round to the LSB and clip to the int16 range (values in the same unit as ``lsb``)."""
    q = np.rint(x / lsb)
    if clip:
        q = np.clip(q, -32768, 32767)
    return q * lsb


def sample(fine, rate_hz, sp, rng, ideal=False):
    """Sample the fine-grid signals like the sensor and the host link do.

    ``fine``: dict from :func:`hipflex.sim.kinematics.synthesize`. Returns
    ``(t [s], acc [m/s^2], gyr [rad/s], true sample times [s])``.
    """
    t_f, fs = fine["t"], fine["fs"]
    m = max(1, int(round(fs / rate_hz)))
    acc_f = _boxcar(fine["acc"], m)
    gyr_f = _boxcar(fine["gyr"], m)
    odr = rate_hz * (1.0 + (0.0 if ideal else sp["odr_error_pct"] / 100.0))
    n = int(math.floor(t_f[-1] * odr)) + 1
    ts = np.arange(n) / odr
    acc = np.column_stack([np.interp(ts, t_f, acc_f[:, k]) for k in range(3)])
    gyr = np.column_stack([np.interp(ts, t_f, gyr_f[:, k]) for k in range(3)])
    # always draw the random parts so ``ideal`` does not shift other streams
    na = rng.standard_normal((n, 3))
    ng = rng.standard_normal((n, 3))
    lat = np.abs(rng.normal(0.0, sp["jitter_ms"], n))
    burst = rng.random(n) < 0.01
    lat = np.minimum(lat + burst * rng.uniform(3.0, 8.0, n), 10.0) * 1e-3
    keep = rng.random(n) >= sp["drop_prob"]
    stall_t = rng.uniform(0.0, 1.0, sp["stalls"]) * ts[-1]
    stall_len = rng.uniform(0.05, 0.25, sp["stalls"])
    if ideal:
        return ts, acc, gyr, ts
    bw = rate_hz / 2.0
    C = np.eye(3)
    ca = np.array(sp["cross_axis_pct"]) / 100.0
    C[0, 1], C[0, 2], C[1, 0], C[1, 2], C[2, 0], C[2, 1] = ca
    acc = acc @ (C * (1.0 + np.array(sp["accel_scale_pct"]) / 100.0)[:, None]).T
    acc += np.array(sp["accel_bias_mg"]) * 1e-3 * G
    acc += na * sp["accel_noise_ug_rthz"] * 1e-6 * G * math.sqrt(bw)
    gyr = gyr * (1.0 + np.array(sp["gyro_scale_pct"]) / 100.0)
    gb = np.array(sp["gyro_bias_dps"]) + np.outer(
        1.0 - np.exp(-ts / sp["gyro_warmup_s"]), sp["gyro_bias_warmup_dps"])
    gyr += np.radians(gb)
    gyr += ng * math.radians(sp["gyro_noise_mdps_rthz"] * 1e-3) * math.sqrt(bw)
    a_lsb = ACC_LSB_MG[sp["accel_fs_g"]] * 1e-3 * G
    g_lsb = math.radians(GYR_LSB_MDPS[sp["gyro_fs_dps"]] * 1e-3)
    acc = quantise(acc, a_lsb)
    gyr = quantise(gyr, g_lsb)
    # host timestamps: true time + read latency, 0.1 ms resolution, strictly increasing
    tr = ts + lat
    ti = np.rint((tr - tr[0]) * 1e4).astype(np.int64)
    idx = np.arange(n)
    ti = np.maximum.accumulate(ti - idx) + idx
    for t0, L in zip(stall_t, stall_len):
        keep &= ~((ts > t0) & (ts < t0 + L))
    keep[0] = keep[-1] = True
    t_out = ti[keep] / 1e4
    return t_out, acc[keep], gyr[keep], ts[keep]
