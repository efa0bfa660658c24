"""Unit tests of the attitude filter and the detector on hand-built signals:
pure rotations about known axes, still periods, gaps, posture changes."""

import math

import numpy as np
import pytest

from hipflex.core import profiles
from hipflex.core.attitude import Attitude
from hipflex.core.detector import Detector
from signals import G, imu_from_orientations, path, ramp, rep_profile, rotation_signal, rotmat, run


def _t(seconds, rate=104.0):
    return np.arange(0.0, seconds, 1.0 / rate)


# ---------------------------------------------------------------- attitude
def test_gravity_tracks_a_known_tilt_from_the_gyro():
    """A 90 deg rotation about x, gyro only (gain 0): gravity ends on the
    sensor's -y... wait for it: the up vector turns by -90 deg about x."""
    att = Attitude(gain=0.0)
    att.init_from_accel(0.0, 0.0, G)
    w = math.radians(45.0)          # 45 deg/s for 2 s
    dt = 0.01
    for _ in range(200):
        att.step(dt, w * dt, 0.0, 0.0, 0.0, 0.0, G)   # accel ignored (gain 0)
    # body turned +90 deg about x: world up seen in the body is R^T z = (0, 1, 0)
    assert att.gx == pytest.approx(0.0, abs=1e-3)
    assert att.gy == pytest.approx(1.0, abs=1e-3)
    assert att.gz == pytest.approx(0.0, abs=2e-3)


def test_tilt_converges_to_the_accelerometer():
    att = Attitude(gain=4.0)
    att.init_from_accel(0.0, 0.0, G)
    a = np.array([0.0, math.sin(0.5), math.cos(0.5)]) * G   # 28.6 deg tilt
    for _ in range(100):                                      # 1 s
        att.step(0.01, 0.0, 0.0, 0.0, *a)
    ang = math.degrees(math.acos(att.gy * math.sin(0.5) + att.gz * math.cos(0.5)))
    assert ang < 1.0


def test_gyro_bias_is_learned_while_steady():
    att = Attitude()
    att.init_from_accel(0.0, 0.0, G)
    bias = (0.05, -0.03, 0.02)      # rad/s, about 3 dps: a typical zero-rate offset
    for _ in range(300):
        att.step(0.01, bias[0] * 0.01, bias[1] * 0.01, bias[2] * 0.01, 0.0, 0.0, G)
    assert (att.bx, att.by, att.bz) == pytest.approx(bias, abs=2e-3)
    assert att.speed < 5e-3


def test_a_slow_turn_about_the_vertical_does_not_become_gyro_bias():
    """Lying still, the bias is learned; then the whole body turns slowly and
    evenly about the vertical (10 deg/s for 5 s: the accelerometer sees no
    change, so the sensor looks steady). The turn is not bias; a rate that
    stays put for longer than any such turn (12 s) is."""
    att = Attitude()
    att.init_from_accel(0.0, 0.0, G)
    bias = (0.02, -0.01, 0.015)
    dt = 0.01
    for _ in range(300):
        att.step(dt, bias[0] * dt, bias[1] * dt, bias[2] * dt, 0.0, 0.0, G)
    assert (att.bx, att.by, att.bz) == pytest.approx(bias, abs=2e-3)
    turn = math.radians(10.0)
    for _ in range(500):
        att.step(dt, bias[0] * dt, bias[1] * dt, (bias[2] + turn) * dt, 0.0, 0.0, G)
    assert (att.bx, att.by, att.bz) == pytest.approx(bias, abs=2e-3)
    assert math.degrees(att.psi) == pytest.approx(50.0, abs=3.0)
    # a new zero-rate offset (a big temperature step) that lasts: followed
    for _ in range(1800):
        att.step(dt, bias[0] * dt, bias[1] * dt, (bias[2] + turn) * dt, 0.0, 0.0, G)
    assert att.bz == pytest.approx(bias[2] + turn, abs=0.02)


def test_a_slow_turn_within_the_bias_band_hardly_moves_a_bias_learned_over_time():
    """After half a minute lying still, the leg turns out slowly about the
    vertical (4 deg/s for 3 s, a side-lying lift: steady to both sensors and
    within BIAS_NEAR of the bias). A zero-rate offset drifts over minutes, so
    the bias, averaged over all the steady time seen, moves by a fraction of
    a degree per second, not by most of the turn's rate (the heading of a
    10 s hold would drift by that much per second)."""
    att = Attitude()
    att.init_from_accel(0.0, 0.0, G)
    bias = (0.009, -0.005, 0.017)       # rad/s: about 0.5, -0.3, 1 dps
    dt = 0.04
    for _ in range(750):                # 30 s
        att.step(dt, bias[0] * dt, bias[1] * dt, bias[2] * dt, 0.0, 0.0, G)
    turn = math.radians(4.0)
    for _ in range(75):                 # 3 s
        att.step(dt, bias[0] * dt, bias[1] * dt, (bias[2] + turn) * dt, 0.0, 0.0, G)
    assert abs(math.degrees(att.bz - bias[2])) < 0.6
    assert math.degrees(att.psi) == pytest.approx(12.0, abs=1.0)


def test_heading_integrates_rotation_about_the_vertical_only():
    att = Attitude(gain=2.0)
    att.init_from_accel(0.0, 0.0, G)
    for _ in range(100):            # 1 s at 30 deg/s about z (vertical)
        att.step(0.01, 0.0, 0.0, math.radians(30) * 0.01, 0.0, 0.0, G)
    assert math.degrees(att.psi) == pytest.approx(30.0, abs=0.5)
    psi = att.psi
    for _ in range(100):            # a horizontal-axis rotation leaves it alone
        att.step(0.01, math.radians(10) * 0.01, 0.0, 0.0, 0.0, 0.0, G)
    assert att.psi == pytest.approx(psi, abs=math.radians(1.0))


def _lifts_with_scaled_gyro(amp, k, reps=10, rate=52.0, seed=0, move=1.5):
    """Lifts of ``amp`` deg (rise and lowering ``move`` s each, held 2 s,
    2.5 s apart) whose gyro reads ``k`` times the true rate (a wrong
    full-scale setting), with a little noise. Returns (t, acc, gyr)."""
    t = _t(8 + reps * (4.5 + 2 * move), rate)
    ang, _ = rep_profile(t, reps, amp=amp, rise=move, hold=2.0, fall=move, rest=2.5, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(1, 0, 0), noise=1, seed=seed)
    return t, acc, gyr * k


def _scales(t, acc, gyr, params=None):
    """Run a detector; the gyro scale in force after each sample and the reps."""
    det = Detector(params)
    tm = np.rint(t * 1000).astype(int)
    sc = np.empty(len(t))
    reps = []
    for i in range(len(t)):
        r = det.update(int(tm[i]), *acc[i].tolist(), *gyr[i].tolist())
        if r:
            reps.append(r)
        sc[i] = det.att.scale
    r = det.flush()
    while r:
        reps.append(r)
        r = det.flush()
    return sc, reps


def test_a_gyro_that_over_reads_is_rescaled_for_good():
    """A gyro reading 1.6x the true rate (outside any datasheet tolerance):
    after a few lifts the scale is about 1/1.6 and it stays there (votes
    that scatter around it do not send it back to 1), so the reps' range
    is right."""
    t, acc, gyr = _lifts_with_scaled_gyro(30.0, 1.6)
    sc, reps = _scales(t, acc, gyr)
    late = t > t[-1] / 2
    assert np.all(np.abs(sc[late] * 1.6 - 1.0) < 0.2)
    assert len(reps) == 10
    assert all(abs(r.rom_deg - 30.0) < 4.0 for r in reps[5:])


def test_small_lifts_calibrate_a_gyro_that_over_reads():
    """Quick 6 deg lifts by the accelerometer, 18 deg by a gyro reading 3x:
    each short movement votes, so the scale is corrected by the second lift
    and from then on the small-range profile counts every lift once, with
    its true range. (With the raw gyro the lowering overshoots past rest and
    splits every lift in two; the first lift, before the votes are in, may
    still count twice.)"""
    t, acc, gyr = _lifts_with_scaled_gyro(6.0, 3.0, reps=10, seed=1, move=0.5)
    sc, reps = _scales(t, acc, gyr, profiles.get("seated_leg_lift"))
    assert abs(sc[-1] * 3.0 - 1.0) < 0.25
    assert len(reps) in (10, 11)
    assert all(abs(r.rom_deg - 6.0) < 1.5 for r in reps[-7:])


def _tilt_moves(att, ks, deg=30.0, dt=0.02):
    """Rock the sensor about x by ``deg`` and back, once per gyro factor in
    ``ks`` (the gyro reads k times the true rate), pausing still at each end
    so every movement votes on the scale."""
    tilt = 0.0
    for k in ks:
        for sign in (1.0, -1.0):
            w = sign * math.radians(deg) / 0.5          # 0.5 s per movement
            for i in range(int(1.0 / dt)):
                moving = i < int(0.5 / dt)
                if moving:
                    tilt += w * dt
                rate = w * k if moving else 0.0
                att.step(dt, rate * dt, 0.0, 0.0, 0.0, G * math.sin(tilt), G * math.cos(tilt))


def test_a_corrected_gyro_scale_does_not_fall_back_to_one():
    """Votes scatter with the movement (lever arm, motion out of the plane):
    a gyro first found to read 1.6x, whose later votes say 1.4x, keeps a
    corrected scale; the datasheet scale returns only when the votes say 1."""
    att = Attitude()
    att.init_from_accel(0.0, 0.0, G)
    _tilt_moves(att, [1.6, 1.6])
    assert att.scale == pytest.approx(1 / 1.6, rel=0.1)
    _tilt_moves(att, [1.4] * 3)
    assert att.scale < 0.8
    _tilt_moves(att, [1.0] * 3)
    assert att.scale == 1.0


def test_a_good_gyro_keeps_its_datasheet_scale():
    """Within tolerance (2 % scale error) the scale stays exactly 1, for big
    lifts and small ones alike."""
    for amp in (6.0, 40.0):
        t, acc, gyr = _lifts_with_scaled_gyro(amp, 1.02, seed=2)
        sc, _ = _scales(t, acc, gyr)
        assert np.all(sc == 1.0)


# ---------------------------------------------------------------- detector
@pytest.mark.parametrize("axis,base", [
    ((0, 1, 0), None),                              # standing knee raise
    ((1, 0, 0), rotmat((0, 1, 0), 90)),             # thigh horizontal (supine)
    ((0, 0, 1), rotmat((1, 0, 0), 90)),             # side-lying: vertical axis
])
def test_counts_reps_about_any_axis_and_reports_rom(axis, base):
    t = _t(40)
    ang, labels = rep_profile(t, 6, amp=60, rise=0.8, fall=1.0, rest=2.5)
    acc, gyr = rotation_signal(t, ang, axis=axis, base=base, noise=1)
    reps, det = run(t, acc, gyr)
    assert len(reps) == 6
    for r, (s, p, e, _) in zip(reps, labels):
        assert s - 0.5 <= r.peak_ms / 1000 <= e
        assert r.rom_deg == pytest.approx(60, abs=5)


@pytest.mark.parametrize("offset_ms", [-4000, 12000, (1 << 29) // 40 * 40 - 40000])
def test_the_clock_may_start_anywhere(offset_ms):
    """Timestamps are only compared with each other: a stream that starts
    before zero, or on a board clock close to its wrap (CircuitPython's
    ticks_ms runs to 2**29), gives the same events, shifted (offsets are
    whole grid steps, so the ticks fall on the same samples)."""
    t = _t(30, 52.0)
    ang, _ = rep_profile(t, 5, amp=40, rise=0.8, hold=1.0, fall=1.0, rest=2.5)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1)
    ref, _ = run(t, acc, gyr)
    got, _ = run(t + offset_ms / 1000.0, acc, gyr)
    assert len(ref) == 5
    assert [(r.start_ms + offset_ms, r.peak_ms + offset_ms, r.end_ms + offset_ms, r.hold_ms)
            for r in ref] == [(r.start_ms, r.peak_ms, r.end_ms, r.hold_ms) for r in got]


def test_mounting_does_not_matter():
    t = _t(30)
    ang, _ = rep_profile(t, 5, amp=45, rise=1.0, fall=1.0, rest=2.5)
    out = []
    for m in (np.eye(3), rotmat((1, 2, 3), 130), rotmat((0, 0, 1), 200)):
        acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), mount=m)
        reps, _ = run(t, acc, gyr)
        out.append([(r.peak_ms, round(r.rom_deg)) for r in reps])
    assert len(out[0]) == 5
    for o in out[1:]:
        assert len(o) == 5
        for (p0, r0), (p1, r1) in zip(out[0], o):
            assert abs(p0 - p1) <= 80 and abs(r0 - r1) <= 2


def test_hold_duration_is_measured_live_and_at_the_end():
    t = _t(45)
    ang, labels = rep_profile(t, 3, amp=70, rise=1.0, hold=6.0, fall=1.2, rest=3.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 3
    for r in reps:
        assert r.hold_ms / 1000 == pytest.approx(6.0, abs=0.5)
    # the live hold timer (what the board shows) runs up to the hold too
    det = Detector()
    live = 0
    tm = np.rint(t * 1000).astype(int)
    for i in range(len(t)):
        det.update(int(tm[i]), *acc[i].tolist(), *gyr[i].tolist())
        if t[i] < labels[0][2]:
            live = max(live, det.hold_ms)
    assert live / 1000 == pytest.approx(6.0, abs=0.6)


@pytest.mark.parametrize("amp, rise, hold, fall, profile, rate, tol", [
    (80, 0.6, 5.0, 0.8, "standing_knee_hold", 104, 0.12),   # a brisk knee raise
    (80, 1.0, 6.0, 1.2, "auto", 52, 0.12),
    (45, 2.0, 10.0, 2.5, "side_lying_hold", 104, 0.12),
    (25, 3.0, 5.0, 3.0, "auto", 52, 0.25),                  # slow and small
    (8, 1.5, 2.5, 1.5, "seated_leg_lift", 104, 0.2),
])
def test_hold_is_timed_from_the_end_of_the_rise_to_the_start_of_the_fall(
        amp, rise, hold, fall, profile, rate, tol):
    """The 0.3 s stillness window reads a smooth movement as still before it
    stops and after it starts again, by an amount that depends on its pace
    and range: a brisk 80 deg raise hardly at all, a slow 25 deg lift by
    more than the window itself. The hold (from the end of the rise to the
    start of the fall) comes out right either way."""
    t = _t(60, rate)
    ang, _ = rep_profile(t, 3, amp=amp, rise=rise, hold=hold, fall=fall, rest=3.0, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=3)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert len(reps) == 3
    err = [r.hold_ms / 1000.0 - hold for r in reps]
    assert abs(sum(err) / 3) < tol and max(abs(e) for e in err) < tol + 0.1


@pytest.mark.parametrize("amp,pause_at", [(50.0, 0.55), (8.0, 0.55), (30.0, 0.4)])
def test_a_hold_lowered_with_a_pause_is_timed_to_the_start_of_the_fall(amp, pause_at):
    """Held lifts (3 s at the top) whose lowering stops part way
    (``pause_at`` of the range, for 1.2 s) before going on down: the fall's
    pace is read from its fastest part, so a pause just above the exit
    level does not make it look like a slow fall that the stillness window
    caught early (which took 1-2.5 s off each hold)."""
    rate = 52.0
    t = _t(70, rate)
    mid = pause_at * amp
    ang = path(t, ((1.2, amp), (3.0, amp), (0.7, mid), (1.2, mid), (0.7, 0.0)),
               reps=5, period=9.8, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=64)
    prof = "lying_leg_raise" if amp > 20 else "seated_leg_lift"
    reps, _ = run(t, acc, gyr, profiles.get(prof))
    assert len(reps) == 5
    for r in reps:
        assert abs(r.hold_ms - 3000) < 300


@pytest.mark.parametrize("profile", ["v_sit_hold", "auto"])
def test_a_twitch_in_a_long_hold_is_not_a_new_posture(profile):
    """Boat poses (legs 50 deg up, held 20 s), each with a 12 deg twitch
    down and back 9 s into the hold. The hold pose is remembered as a
    possible new posture; the twitch is a round trip from it, but one
    smaller than any rep (``min_rom_deg``), so the hold stands and is timed
    whole (it used to make the hold pose the rest and lose the rep)."""
    rate = 52.0
    t = _t(100, rate)
    ang = path(t, ((1.5, 50.0), (9.0, 50.0), (0.5, 38.0), (0.5, 50.0), (10.0, 50.0),
                   (1.5, 0.0)), reps=3, period=30.0, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=65)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert len(reps) == 3
    for r in reps:
        assert abs(r.hold_ms - 20000) < 600


def test_a_short_dip_below_the_hold_floor_does_not_cut_the_hold():
    """A knee held up 6 s wobbles once in the middle: for a quarter of a
    second the thigh drops 6 deg of its 20 (below the 75 % hold floor) and
    comes back. That is one 6 s hold, not the longer of two 3 s halves."""
    t = _t(50)
    ang, labels = rep_profile(t, 3, amp=20, rise=1.5, hold=6.0, fall=1.5, rest=3.0, lead=4.0)
    for start, peak, end, hold in labels:
        mid = peak + 3.0
        m = (t >= mid - 0.125) & (t < mid + 0.125)
        ang[m] -= 6.0 * np.sin(np.pi * (t[m] - mid + 0.125) / 0.25) ** 2
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=5)
    reps, _ = run(t, acc, gyr, profiles.get("standing_knee_hold"))
    assert len(reps) == 3
    for r in reps:
        assert r.hold_ms / 1000.0 == pytest.approx(6.0, abs=0.4)


def test_a_twitch_above_the_hold_on_the_way_down_does_not_undo_it():
    """A boat pose held 20 s at 50 deg; as the legs come down they first jerk
    up to 70 deg. The hold is still 20 s: it is judged against the top as it
    stood while it was held, not against the twitch (which would put the
    hold below 75 % of the rise). The excursion's own bookkeeping is fed
    directly (angle and turning rate per 40 ms step)."""
    det = Detector(profiles.get("v_sit_hold"))
    trip = det._a
    trip.clear(0, 0.0)
    t = 0
    for a0, a1, dur, rate in ((0.0, 50.0, 1.5, 33.0), (50.0, 50.0, 20.0, 0.5),
                              (50.0, 70.0, 0.3, 60.0), (70.0, 0.0, 1.5, 45.0)):
        n = int(round(dur / 0.04))
        for i in range(1, n + 1):
            t += 40
            trip.step(t, 40, a0 + (a1 - a0) * i / n, 0.0, rate, det)
    assert trip.peak == pytest.approx(70.0)
    assert trip.hold(45.0, det) / 1000 == pytest.approx(20.0, abs=0.6)


@pytest.mark.parametrize("profile", ["auto", "standing_march", "standing_knee_hold",
                                     "lying_leg_raise", "ball_pass", "front_support_hip_flexion"])
def test_slow_small_held_lifts_count_with_every_profile_that_allows_them(profile):
    """Six slow 17 deg lifts (2.5 s up, held 4 s, 2.5 s down): a weak leg
    doing any of these exercises. The thigh is never still on the way up,
    so the rest pose creeps after it (2-3 deg by the time a 7 deg entry is
    crossed); the excursion must open before the thigh holds still at the
    top, where it would become the rest. A 10 deg entry opens too late."""
    rate = 52.0
    t = _t(70, rate)
    ang, _ = rep_profile(t, 6, amp=17.0, rise=2.5, hold=4.0, fall=2.5, rest=1.5, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=11)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert len(reps) == 6
    assert all(r.hold_ms > 3000 for r in reps)


def test_slow_small_side_lying_holds_count_with_their_profile():
    """Lying on the side, a weak leg is swung forward slowly (2.5 s) by
    16 deg in the horizontal plane, held 6 s, and brought back: six times.
    The rest creeps after the slow start and the excursion reads a few
    degrees short of the turn, so a floor at 15 deg missed every one. (The
    first hold reads short: 4 s after the start the gyro bias has had
    little steady time to settle, and the slow ends of the turn, steady to
    both sensors, still move it.)"""
    rate = 52.0
    t = _t(90, rate)
    ang, _ = rep_profile(t, 6, amp=16.0, rise=2.5, hold=6.0, fall=2.5, rest=2.0, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 0, 1), noise=1, seed=41)
    reps, _ = run(t, acc, gyr, profiles.get("side_lying_hold"))
    assert len(reps) == 6
    assert all(r.hold_ms > 5000 for r in reps[1:])


def test_still_input_gives_no_reps_and_small_reps_are_ignored_by_auto():
    t = _t(30)
    acc, gyr = rotation_signal(t, np.zeros_like(t), noise=2)
    reps, det = run(t, acc, gyr)
    assert reps == [] and det.ready
    ang, _ = rep_profile(t, 6, amp=6, rise=0.8, fall=0.8, rest=2.0)  # fidgets
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1)
    assert run(t, acc, gyr)[0] == []
    # the seated leg lift profile counts the same small lifts
    reps, _ = run(t, acc, gyr, profiles.get("seated_leg_lift"))
    assert len(reps) == 6


def test_posture_change_is_not_a_rep():
    """Standing still, then lying down (90 deg) for good: no rep."""
    t = _t(40)
    ang = np.where(t < 5, 0.0, np.minimum((t - 5) / 1.5, 1.0) * 90.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1)
    reps, det = run(t, acc, gyr)
    assert reps == []


def test_reps_in_a_new_posture_count_after_the_change():
    """Stand, lie down, then leg raises from the lying pose."""
    rate = 104.0
    t = _t(50, rate)
    ang = np.where(t < 4, 0.0, np.minimum((t - 4) / 1.5, 1.0) * 90.0)
    lifts, labels = rep_profile(t, 6, amp=50, rise=1.0, fall=1.0, rest=2.0, lead=10.0)
    acc, gyr = rotation_signal(t, ang + lifts, axis=(0, 1, 0), noise=1)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 6
    assert all(abs(r.rom_deg - 50) < 6 for r in reps)


@pytest.mark.parametrize("pause, bend, amp", [(0.0, 40.0, 60.0), (1.0, 40.0, 60.0),
                                             (1.0, 55.0, 60.0), (1.0, 40.0, 18.0),
                                             (1.0, 30.0, 18.0)])
def test_bending_the_knees_to_get_up_after_a_set_is_not_a_rep(pause, bend, amp):
    """Lying leg raises, then getting up: the knees bend (the thigh rises
    like a smaller rep and pauses there), the legs go straight as the trunk
    sits up, and after ``pause`` s the thigh swings on to standing (90 deg
    the other way) and stays. The bend was a step of getting up, not a
    seventh rep: a slow rep short of the set's typical range waits 2.5 s for
    what follows, and so does one half as big again as the set's range
    (after a set of small lifts, ``amp`` 18 deg). (A bend held still for a second
    or more would count: a rep held at the top was meant.)"""
    rate = 104.0
    t = _t(60, rate)
    ang, _ = rep_profile(t, 6, amp=amp, rise=1.2, fall=1.2, rest=2.0, lead=4.0)
    t_up = 4.0 + 6 * 4.4 + 2.0                   # after the set, a short rest
    if pause:
        steps = ((t_up, 1.2, 0.0, bend), (t_up + 1.2, 0.6, bend, bend),
                 (t_up + 1.8, 1.0, bend, 0.0), (t_up + 2.8, pause, 0.0, 0.0),
                 (t_up + 2.8 + pause, 1.5, 0.0, -90.0))
    else:                                        # one flowing movement
        steps = ((t_up, 1.2, 0.0, bend), (t_up + 1.2, 0.6, bend, bend),
                 (t_up + 1.8, 2.5, bend, -90.0))
    for t0, dur, a0, a1 in steps:
        ramp(t, ang, t0, dur, a0, a1)
    ang[t >= steps[-1][0] + steps[-1][1]] = -90.0
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 6
    assert all(r.end_ms < t_up * 1000 for r in reps)


def test_a_rep_followed_at_once_by_a_held_rep_counts_both():
    """A quick set: each rep starts as soon as the last one is down,
    overshoots, settles lower and pauses there (so the pause is not judged a
    hold at the top). The thigh settling in the next rep right after a rep is
    not a posture change: that rep goes no farther than the one before it."""
    rate = 52.0
    t = _t(50, rate)
    ang = np.zeros_like(t)
    t0 = 4.0
    n = 8
    for i in range(n):
        for s0, dur, a0, a1 in ((t0, 0.8, 0.0, 30.0), (t0 + 0.8, 0.5, 30.0, 21.0),
                                (t0 + 1.3, 1.7, 21.0, 21.0), (t0 + 3.0, 1.0, 21.0, 0.0)):
            ramp(t, ang, s0, dur, a0, a1)
        t0 += 4.6
    acc, gyr = rotation_signal(t, ang, axis=(1, 0, 0), noise=1)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == n


def _getting_up(t):
    """Thigh angle (deg) getting up from the floor through a deep crouch:
    lying until 4 s, a 150 deg turn, then 70 deg from where it lay from
    6.5 s on (on the feet)."""
    ang = np.zeros_like(t)
    for t0, dur, a0, a1 in ((4.0, 1.5, 0.0, 150.0), (5.5, 1.0, 150.0, 70.0)):
        ramp(t, ang, t0, dur, a0, a1)
    ang[t >= 6.5] = 70.0
    return ang


def test_after_a_turn_beyond_the_hips_range_the_rest_is_found_again():
    """Getting up from the floor through a deep crouch turns the thigh
    150 deg and leaves it 70 deg from where it lay; no hip does that. The
    person then sways on their feet (never still) and starts knee raises.
    The rest is taken afresh where the thigh is, so the raises count with
    their own range (not measured from the pose on the floor)."""
    rate = 52.0
    t = _t(45, rate)
    ang = _getting_up(t)
    lifts, _ = rep_profile(t, 6, amp=45, rise=0.8, fall=0.8, rest=2.0, lead=9.0)
    sway = np.where((t >= 6.5) & (t < 9.0), 2.0 * np.sin(2 * np.pi * 0.7 * (t - 6.5)), 0.0)
    a1, g1 = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=3)
    a2, g2 = rotation_signal(t, lifts + sway, axis=(1, 0, 0), base=rotmat((0, 1, 0), 70.0),
                             noise=1, seed=4)
    late = t >= 6.5
    acc = np.where(late[:, None], a2, a1)
    gyr = np.where(late[:, None], g2, g1)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 6
    assert all(abs(r.rom_deg - 45.0) < 5.0 for r in reps)


@pytest.mark.parametrize("profile", ["auto", "front_support_hip_flexion"])
@pytest.mark.parametrize("walk_at", [5.5, 7.6, 8.0])
def test_walking_off_after_getting_up_is_not_counted(profile, walk_at):
    """Getting up from the floor (a turn beyond the hip's range), a moment
    on the feet swaying (never still for long), then walking off from
    ``walk_at`` s (at 5.5 s already striding while the thigh swings down
    from the crouch). The rest is taken afresh where the thigh has been on
    average over the last second of the wait for a still moment, not
    wherever it is when the wait runs out (mid-stride) nor where it turned
    slowest (either end of a stride), so the strides swing back past it and
    are known as walking."""
    rate = 52.0
    t = _t(30, rate)
    ang = _getting_up(t)
    standing = (t >= 6.5) & (t < walk_at)
    ang += np.where(standing, 3.0 * np.sin(2 * np.pi * 1.2 * (t - 6.5)), 0.0)
    ramp_in = np.clip((t - walk_at) / 0.4, 0.0, 1.0)
    ang += np.where(t >= walk_at, ramp_in * (5.0 + 20.0 * np.sin(2 * np.pi * 0.9 * (t - walk_at))), 0.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=5)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert reps == []


@pytest.mark.parametrize("profile", ["standing_knee_hold", "auto"])
def test_walking_off_after_slow_small_holds_is_not_counted(profile):
    """Five slow knee holds of 20 deg (2 s up, 6 s held), then walking off
    2 s after the last: the first stride swings the thigh 13 deg forward,
    quick and unheld, and the swing back goes 25 deg behind the rest, the
    other way from where the set's reps go. That is a swing back even
    though it is bigger than the swing before it (a stride's is, when the
    rest is forward of the walking neutral); the first stride was counted
    as a small rep of the set and the swing back as another."""
    rate = 104.0
    t = _t(90, rate)
    ang, labels = rep_profile(t, 5, amp=20.0, rise=2.0, hold=6.0, fall=2.0, rest=3.0, lead=4.0)
    tw = labels[-1][2] + 2.0
    sw = np.sin(2 * np.pi * 0.9 * (t - tw))
    ang = np.where(t >= tw, np.where(sw > 0, 13.0 * sw, 25.0 * sw), ang)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=68)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert len(reps) == 5
    assert all(r.end_ms < tw * 1000 for r in reps)


def test_marching_right_after_walking_in_counts():
    """Walking to the spot (strides: 25 deg forward, 12 deg back, 0.9 Hz),
    then at once a standing march, brisk knee drives to 70 deg with no pause
    at the top, one every 1.2 s. Quick swings right after strides keep the
    walking going, but no walking stride swings the thigh 50 deg: the march
    counts from its first drive."""
    rate = 52.0
    t = _t(30, rate)
    walk = (t >= 3.0) & (t < 8.0)
    ang = np.where(walk, 6.5 + 18.5 * np.sin(2 * np.pi * 0.9 * (t - 3.0)), 0.0)
    ang[walk] *= np.clip((t[walk] - 3.0) / 0.4, 0.0, 1.0)
    drives, _ = rep_profile(t, 12, amp=70.0, rise=0.4, fall=0.45, rest=0.35, lead=8.3)
    ang += drives
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=23)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 12


def test_a_march_drive_is_never_a_walking_stride():
    """A brisk standing march (drives to 70 deg, one every 1.2 s at 26 Hz);
    after the fourth drive the thigh kicks back 22 deg past rest for a
    moment (a stumble, or a stream that stalled at the top of the drive and
    left the tilt off). Forward, back, forward within a stride cycle, the
    swing back a fair share of both: the stride pattern, but no walking
    stride swings the thigh 70 deg. All ten drives count."""
    rate = 26.0
    t = _t(25, rate)
    ang, labels = rep_profile(t, 10, amp=70.0, rise=0.4, fall=0.45, rest=0.35, lead=4.0)
    end4 = labels[3][2]
    ramp(t, ang, end4, 0.15, 0.0, -22.0)
    ramp(t, ang, end4 + 0.15, 0.2, -22.0, 0.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=29)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 10


def test_fast_climber_drives_count_with_auto():
    """Mountain climbers at full speed: the knee drives in 80 deg in 0.15 s
    and is back in 0.25 s, a drive every 0.7 s. From leaving rest to halfway
    back that is under the 300 ms ``auto`` asks of a rep (the shortness that
    tells a jolt of the strap from a lift), but no jolt swings the thigh
    that far: all ten count, without the climber's profile."""
    rate = 104.0
    t = _t(15, rate)
    ang, _ = rep_profile(t, 10, amp=80.0, rise=0.15, fall=0.25, rest=0.3, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=31)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 10
    assert all(r.end_ms - r.start_ms < 300 for r in reps)


@pytest.mark.parametrize("profile,stand", [("auto", 12.0), ("mountain_climber", 12.0),
                                           ("auto", 1.0)])
def test_getting_up_from_a_plank_after_a_set_is_not_a_rep(profile, stand):
    """Eight climber drives from a plank, then up onto the feet: the knee
    comes in under the chest (125 deg from the plank, within the hip's
    range), and the thigh swings back down to hang under the standing body,
    60 deg from where it lay in the plank, and stays there (``stand`` s,
    then the recording ends). It passed half its range on the way, like a
    rep, but it came to rest further from the plank than any rest shifts
    between reps and never went back: the set is eight."""
    rate = 52.0
    t = _t(4.0 + 8 * 0.9 + 3.0 + 4.0 + stand, rate)
    ang, labels = rep_profile(t, 8, amp=80.0, rise=0.25, fall=0.3, rest=0.35, lead=4.0)
    up = labels[-1][2] + 3.0
    ramp(t, ang, up, 2.5, 0.0, 125.0)
    ramp(t, ang, up + 2.5, 1.5, 125.0, 60.0)
    ang[t >= up + 4.0] = 60.0
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=37)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert len(reps) == 8


@pytest.mark.parametrize("profile", ["front_support_hip_flexion", "auto"])
def test_the_last_rep_before_getting_up_past_the_hips_range_counts(profile):
    """Knee tucks from a plank (70 deg, held 1 s), the last one a little
    smaller (60 deg: unlike the set, so it waits 2.5 s for what follows);
    a second after it the body gets up, the thigh turning 150 deg from the
    plank (beyond the hip's range) before it hangs under the standing body.
    That movement closes the set, and the rep still waiting is its last
    (it used to be carried into the next set as a first rep and lost)."""
    rate = 52.0
    t = _t(50, rate)
    ang, labels = rep_profile(t, 6, amp=70.0, rise=1.0, hold=1.0, fall=1.2, rest=1.0, lead=4.0)
    s0 = labels[-1][0]
    ramp(t, ang, s0, 1.0, 0.0, 60.0)
    ramp(t, ang, s0 + 1.0, 1.0, 60.0, 60.0)
    ramp(t, ang, s0 + 2.0, 1.2, 60.0, 0.0)
    up = labels[-1][2] + 1.0
    ramp(t, ang, up, 2.0, 0.0, 150.0)
    ramp(t, ang, up + 2.0, 1.5, 150.0, 60.0)
    ang[t >= up + 3.5] = 60.0
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=67)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert len(reps) == 6
    assert reps[-1].rom_deg < 65.0


def test_a_step_between_the_first_lunges_is_not_a_rep():
    """Forward lunges with ``auto``: the front thigh swings up 75 deg each
    time; after the second, the person shuffles the front foot (the thigh
    swings 17 deg and back). Two reps of 70-75 deg already say what this set
    is made of: a swing a quarter their size is no rep of it (the set's
    typical range used to wait for three excursions)."""
    rate = 104.0
    t = _t(40, rate)
    ang, labels = rep_profile(t, 6, amp=75.0, rise=1.0, hold=0.3, fall=1.2, rest=3.0, lead=4.0)
    mid = labels[1][2] + 1.0
    ramp(t, ang, mid, 0.6, 0.0, 17.0)
    ramp(t, ang, mid + 0.6, 0.6, 17.0, 0.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=47)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 6
    assert all(r.rom_deg > 60.0 for r in reps)


def test_a_quick_lift_between_the_first_reps_is_judged_by_the_reps_after_it():
    """A lying leg lift with ``auto`` at 26 Hz: after the first lift
    (30 deg) the leg settles a little above where it started, then is
    lifted 17 deg and let down over 2.4 s, and the set goes on with 30 deg
    reps, the next one starting before the small lift's wait is over.
    When the small lift ends only one rep is known, so it looks like the
    second rep of the set (over half the first); the rep after it shows
    that it is under 60 % of the set's typical range, and it is judged by
    that when its wait ends."""
    rate = 26.0
    t = _t(70, rate)
    ang, _ = rep_profile(t, 9, amp=30.0, rise=1.5, hold=0.5, fall=2.0, rest=2.5, lead=10.6)
    for t0, dur, a0, a1 in ((3.0, 1.2, 0.0, 30.0), (4.2, 0.6, 30.0, 30.0),
                            (4.8, 1.2, 30.0, 3.0), (6.0, 1.6, 3.0, 3.0),
                            (7.4, 1.2, 3.0, 20.0), (8.6, 1.2, 20.0, 0.0)):
        ramp(t, ang, t0, dur, a0, a1)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=61)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 10
    assert min(r.rom_deg for r in reps) > 25.0


@pytest.mark.parametrize("rate,side", [(26.0, 0.0), (104.0, 0.0), (52.0, 9.0)])
def test_a_lowering_that_pauses_part_way_does_not_move_the_rest(rate, side):
    """Lying leg lifts of 30 deg with ``auto``: the first is lowered to
    14 deg and paused there 1.5 s (still: it reads like a rest), then let
    down to where it started (or ``side`` deg out to the side of it: a rest
    drifts between reps); the next reps follow after a second's rest. The
    thigh went back from the pause, the other way from where the reps go,
    to about where the first lift started, and that is where it rests:
    every lift counts with its full range (a rest left at the pause made
    the next lift look like a swing back from the lowering)."""
    t = _t(60, rate)
    ang, _ = rep_profile(t, 9, amp=30.0, rise=1.2, hold=0.3, fall=1.5, rest=1.0, lead=9.0)
    for t0, dur, a0, a1 in ((3.0, 1.2, 0.0, 30.0), (4.2, 0.6, 30.0, 30.0),
                            (4.8, 0.8, 30.0, 14.0), (5.6, 1.5, 14.0, 14.0),
                            (7.1, 1.0, 14.0, 0.0)):
        ramp(t, ang, t0, dur, a0, a1)
    out = np.zeros_like(t)
    ramp(t, out, 7.1, 1.0, 0.0, side)
    out[t >= 8.1] = side
    R = [rotmat((0, 1, 0), ang[i]) @ rotmat((1, 0, 0), out[i]) for i in range(len(t))]
    acc, gyr = imu_from_orientations(t, R)
    rng = np.random.default_rng(62)
    acc += rng.normal(0, 0.05, acc.shape)
    gyr += rng.normal(0, 0.005, gyr.shape)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 10
    assert all(r.rom_deg > 25.0 for r in reps)


@pytest.mark.parametrize("pause", [0.8, 2.0])
def test_a_knee_hold_lowered_in_two_steps_counts(pause):
    """Standing knee holds (85 deg, held 5 s): each lowering stops at
    40 deg for ``pause`` s before the foot comes down. The thigh settles
    further from where the rep started than a rest ever shifts, which is
    also how getting up from a plank ends; but here it goes on back down
    within a few seconds, so each hold is a rep."""
    rate = 52.0
    t = _t(80, rate)
    ang = path(t, ((1.2, 85.0), (5.0, 85.0), (0.8, 40.0), (pause, 40.0), (0.8, 0.0)),
               reps=5, period=7.8 + pause + 4.0, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=63)
    reps, _ = run(t, acc, gyr, profiles.get("standing_knee_hold"))
    assert len(reps) == 5
    assert all(r.rom_deg > 75.0 for r in reps)


def test_a_tiring_climber_whose_leg_overshoots_is_not_walking():
    """Mountain climbers from a plank, a drive every second: the knee comes
    in 70 deg, the leg kicks back just under a quarter of that past the
    plank (``swing_pct``) and returns; the last four drives, tiring, reach
    only 45 deg. Forward, back past rest, forward within a stride cycle
    looks like walking, and the kick back after the last strong drive is
    over a third of the weaker drive after it; but a stride's swing back is
    a fair share of the swings on both sides of it: all twelve count."""
    rate = 104.0
    t = _t(25, rate)
    ang = np.zeros_like(t)
    t0 = 4.0
    for amp in [70.0] * 8 + [45.0] * 4:
        back = -0.24 * amp
        for s0, dur, a0, a1 in ((t0, 0.3, 0.0, amp), (t0 + 0.3, 0.35, amp, back),
                                (t0 + 0.65, 0.2, back, 0.0)):
            ramp(t, ang, s0, dur, a0, a1)
        t0 += 1.05
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=19)
    reps, _ = run(t, acc, gyr, profiles.get("mountain_climber"))
    assert len(reps) == 12


def test_kneeling_down_and_getting_up_again_is_not_a_set():
    """Standing, then down on one knee through a crouch (the thigh swings
    70 deg forward and back to vertical, as in a knee raise), kneeling 14 s,
    and up again the same way. Two alike excursions, but the reps of a set
    follow each other at the pace of the reps themselves: a second one more
    than 10 s and three times the first's length later does not confirm
    it. Six knee raises at a relaxed pace (4 s apart) still count."""
    rate = 52.0
    t = _t(40, rate)
    ang = np.zeros_like(t)
    for t0 in (4.0, 22.0):
        for s0, dur, a0, a1 in ((t0, 1.0, 0.0, 70.0), (t0 + 1.0, 0.3, 70.0, 70.0),
                                (t0 + 1.3, 1.0, 70.0, 0.0)):
            ramp(t, ang, s0, dur, a0, a1)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=17)
    reps, _ = run(t, acc, gyr)
    assert reps == []
    ang, _ = rep_profile(t, 6, amp=70, rise=1.0, hold=0.3, fall=1.0, rest=3.7, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=17)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 6


def test_sitting_on_a_chair_for_a_while_is_not_a_rep():
    """Standing, then sitting down on a chair (leaning over it, 90 deg, and
    settling back to 62 deg) for 15 s, shifting about all the while,
    standing up, and again 10 s later: two alike excursions, but a lift
    does not stay that long away from rest without holding at its top. A
    boat pose held as long counts."""
    rate = 52.0
    t = _t(60, rate)
    ang = np.zeros_like(t)
    t0 = 4.0
    for _ in range(2):
        for s0, dur, a0, a1 in ((t0, 1.2, 0.0, 90.0), (t0 + 1.2, 0.8, 90.0, 62.0),
                                (t0 + 2.0, 14.0, 62.0, 62.0), (t0 + 16.0, 0.8, 62.0, 90.0),
                                (t0 + 16.8, 1.2, 90.0, 0.0)):
            ramp(t, ang, s0, dur, a0, a1)
        t0 += 28.0
    sitting = (ang > 55.0) & (ang < 70.0)
    ang += np.where(sitting, 3.0 * np.sin(2 * np.pi * 0.6 * t), 0.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1)
    reps, _ = run(t, acc, gyr)
    assert reps == []
    boat, _ = rep_profile(t, 2, amp=62, rise=1.5, hold=15.0, fall=1.5, rest=10.0, lead=4.0)
    acc, gyr = rotation_signal(t, boat, axis=(0, 1, 0), noise=1)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 2
    assert all(r.hold_ms > 14000 for r in reps)


@pytest.mark.parametrize("dip, low, hold_s", [(0.75, 0.0, (29.0, 32.5)), (1.5, 1.5, (14.0, 16.5))])
def test_a_wobble_in_a_long_hold_does_not_lose_the_rep(dip, low, hold_s):
    """Boat poses of 30 s (``v_sit_hold``), each dropping 15 deg half way,
    well below the hold's floor: ``dip`` s down and as long up again, after
    ``low`` s at the bottom. Given way for 1.5 s and pulled straight back up,
    it is one hold of 30 s; down for 4.5 s, the hold is cut in two and is
    reported as the longer part. Either way the time held still near the top
    is both parts, so the excursion is not one that stayed away from rest
    without holding (every rep was lost). (With ``auto`` a 15 deg round trip
    from the held pose is as big as a rep from a new posture.)"""
    rate = 52.0
    t = _t(130, rate)
    ang = path(t, ((1.5, 50.0), (14.0, 50.0), (dip, 35.0), (max(low, 0.01), 35.0), (dip, 50.0),
                   (15.0, 50.0), (1.5, 0.0)), reps=3, period=40.0, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=66)
    reps, _ = run(t, acc, gyr, profiles.get("v_sit_hold"))
    assert len(reps) == 3
    assert all(hold_s[0] * 1000 < r.hold_ms < hold_s[1] * 1000 for r in reps)


def test_a_new_posture_starts_a_new_set():
    """Six leg raises lying down, then the person shifts on the mat (the leg
    slides 25 deg aside and settles) and from there lifts once more before
    getting up. A new posture starts a new set, which a second rep like the
    first has to confirm: the lone lift is not counted, the six are."""
    rate = 52.0
    t = _t(50, rate)
    lifts, _ = rep_profile(t, 6, amp=50, rise=1.0, fall=1.0, rest=2.0, lead=4.0)
    end_set = 4.0 + 6 * 4.0
    slide = np.zeros_like(t)
    ramp(t, slide, end_set + 2.0, 1.0, 0.0, 25.0)
    slide[t >= end_set + 3.0] = 25.0
    for t0, dur, a0, a1 in ((end_set + 6.0, 1.0, 0.0, 35.0), (end_set + 7.0, 0.5, 35.0, 35.0),
                            (end_set + 7.5, 1.0, 35.0, 0.0)):
        ramp(t, lifts, t0, dur, a0, a1)
    lying = rotmat((0, 1, 0), 90.0)                 # thigh along world x, lying
    R = [rotmat((0, 0, 1), slide[i]) @ rotmat((0, 1, 0), -lifts[i]) @ lying
         for i in range(len(t))]
    acc, gyr = imu_from_orientations(t, R, noise=1.0, seed=2)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 6
    assert all(r.end_ms < end_set * 1000 for r in reps)


def test_crouching_on_the_way_into_a_plank_does_not_open_the_set():
    """Standing, then down through a crouch (the thigh flexes 80 deg and
    comes back to vertical, kneeling on all fours for a moment) and out
    into a plank (75 deg the other way), then six slow knee tucks from
    the plank. The crouch looks like a rep from standing, but the thigh
    then settles far from where it started: the tucks are a set of their
    own, and a lone crouch in the old posture may not confirm it."""
    rate = 52.0
    t = _t(50, rate)
    ang = np.zeros_like(t)
    for t0, dur, a0, a1 in ((4.0, 1.0, 0.0, 80.0), (5.0, 0.3, 80.0, 80.0),
                            (5.3, 1.0, 80.0, 0.0), (6.3, 0.7, 0.0, 0.0),
                            (7.0, 1.0, 0.0, -75.0)):
        ramp(t, ang, t0, dur, a0, a1)
    ang[t >= 8.0] = -75.0
    tucks, labels = rep_profile(t, 6, amp=65, rise=1.0, hold=0.3, fall=1.2, rest=2.5, lead=12.0)
    acc, gyr = rotation_signal(t, ang + tucks, axis=(0, 1, 0), noise=1)
    reps, _ = run(t, acc, gyr, profiles.get("front_support_hip_flexion"))
    assert len(reps) == 6
    assert all(r.start_ms > 11000 for r in reps)


def test_a_plank_is_not_taken_for_a_held_rep_from_standing():
    """Standing, a crouch (80 deg forward), a moment on all fours (the
    thigh vertical again), then out into a plank (75 deg backward) and six
    knee tucks that bring the thigh back to vertical, held there a second,
    with 4 s in the plank between them. The tucked thigh lines up with the
    standing pose, so the plank looks like a rep held 4 s from standing.
    It is not: no hip extends 75 deg, and the crouch went the other way
    from the same rest, so the thigh dwelling in the plank is a new
    posture. The tucks count, with their own range."""
    rate = 52.0
    t = _t(60, rate)
    ang = np.zeros_like(t)
    steps = [(4.0, 1.2, 0.0, 80.0), (5.2, 0.4, 80.0, 80.0), (5.6, 1.0, 80.0, 0.0),
             (6.6, 1.5, 0.0, 0.0), (8.1, 1.2, 0.0, -75.0), (9.3, 4.0, -75.0, -75.0)]
    t0 = 13.3
    for _ in range(6):
        steps += [(t0, 1.0, -75.0, 0.0), (t0 + 1.0, 1.0, 0.0, 0.0), (t0 + 2.0, 1.2, 0.0, -75.0),
                  (t0 + 3.2, 4.0, -75.0, -75.0)]
        t0 += 7.2
    for s0, dur, a0, a1 in steps:
        ramp(t, ang, s0, dur, a0, a1)
    ang[t >= t0] = -75.0
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=7)
    for profile in ("front_support_hip_flexion", "auto"):
        reps, _ = run(t, acc, gyr, profiles.get(profile))
        assert len(reps) == 6, profile
        assert all(13000 < r.start_ms and abs(r.rom_deg - 75.0) < 6.0 for r in reps), profile


def test_the_rest_settling_a_few_degrees_does_not_end_a_set():
    """Six leg raises lying down; before the last one the leg slides 9 deg
    and rests there, and the last raise starts and ends from that pose.
    The detector takes the new pose as the rest, but a rest that moved by
    less than ``min_rom_deg`` in the middle of a set is the same posture:
    the set goes on and the last raise counts without waiting for a
    second like it."""
    rate = 52.0
    t = _t(45, rate)
    ang, _ = rep_profile(t, 5, amp=50, rise=1.0, hold=0.5, fall=1.0, rest=2.5, lead=4.0)
    t0 = 4.0 + 5 * 5.0 + 1.5
    for s0, dur, a0, a1 in ((t0, 0.6, 0.0, 9.0), (t0 + 0.6, 2.0, 9.0, 9.0), (t0 + 2.6, 1.0, 9.0, 59.0),
                            (t0 + 3.6, 0.5, 59.0, 59.0), (t0 + 4.1, 1.0, 59.0, 9.0)):
        ramp(t, ang, s0, dur, a0, a1)
    ang[t >= t0 + 5.1] = 9.0
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=13)
    for profile in ("auto", "lying_leg_raise"):
        reps, _ = run(t, acc, gyr, profiles.get(profile))
        assert len(reps) == 6, profile
        assert abs(reps[-1].rom_deg - 50.0) < 5.0, profile


def test_side_lying_lifts_that_drift_up_a_little_count():
    """Lying on the side, the top leg swings forward 35 deg in the
    horizontal plane and is held 6 s; as it goes the knee also drifts up
    (21 deg) and comes down again with it. The thigh's elevation sways once
    up and once down -- a tilt path longer than the lift's range, but not
    the back-and-forth of stepping round: five lifts, five reps."""
    rate = 52.0
    t = _t(70, rate)
    yaw, _ = rep_profile(t, 5, amp=35, rise=1.5, hold=6.0, fall=1.5, rest=3.0, lead=4.0)
    lying = rotmat((0, 1, 0), 90.0)
    R = [rotmat((0, 0, 1), yaw[i]) @ rotmat((0, 1, 0), -0.6 * yaw[i]) @ lying
         for i in range(len(t))]
    acc, gyr = imu_from_orientations(t, R, noise=1.0, seed=7)
    reps, _ = run(t, acc, gyr, profiles.get("side_lying_hold"))
    assert len(reps) == 5
    assert all(r.hold_ms > 4500 for r in reps)


def test_a_side_lying_lift_that_drifts_up_a_long_way_counts():
    """A simulated side-lying session (seed 23027, 208 Hz, holds that give
    way): in its third lift the knee drifts up (26 deg) nearly as far as the
    leg swings forward (31 deg), and comes down again as it is lowered. That is one sway up and one down,
    however big -- the back-and-forth of stepping round is what goes beyond
    it. Five lifts, five reps."""
    from hipflex.simulate import simulate
    t, acc, gyr, lab = simulate("side_lying_hold", seed=23027, rate_hz=208, hold_wobble=True)
    reps, _ = run(t, acc, gyr, profiles.get("side_lying_hold"))
    assert len(reps) == len(lab["reps"]) == 5
    assert all(r.hold_ms > 4000 for r in reps)


def _seated_reps(t, lift, roll, seed):
    """Reps counted with the seated profile from a sensor on a horizontal
    thigh (seated): ``lift`` raises the knee (deg), ``roll`` turns the
    thigh about its own axis; sensor noise drawn from ``seed``."""
    seated = rotmat((0, 1, 0), 90.0)
    R = [rotmat((0, 1, 0), -lift[i]) @ seated @ rotmat((0, 0, 1), roll[i])
         for i in range(len(lift))]
    acc, gyr = imu_from_orientations(t, R, noise=1.0, seed=seed)
    reps, _ = run(t, acc, gyr, profiles.get("seated_leg_lift"))
    return reps


@pytest.mark.parametrize("slide", [0.0, 5.0])
@pytest.mark.parametrize("turn", [12.0, 20.0])
def test_turning_the_foot_out_after_a_seated_set_is_not_a_rep(slide, turn):
    """Six seated straight-leg lifts of 8 deg, each held 2 s (seated
    profile); after the set the leg slides ``slide`` deg further out and
    the foot turns out ``turn`` deg for 1.5 s and back. With the thigh
    horizontal, that roll about its own axis tilts the sensor as far as a
    lift, but across the way the lifts went: six reps, not seven."""
    rate = 52.0
    t = _t(60, rate)
    lift = path(t, ((1.0, 8.0), (2.0, 8.0), (1.2, 0.0)), reps=6, period=6.0, lead=4.0)
    ramp(t, lift, 41.0, 1.0, 0.0, slide)
    lift[t >= 42.0] = slide
    roll = path(t, ((0.8, turn), (1.5, turn), (0.8, 0.0)), period=0.0, lead=43.5)
    reps = _seated_reps(t, lift, roll, 5)
    assert len(reps) == 6
    assert all(r.rom_deg < 10.0 for r in reps)


def test_seated_lifts_that_roll_the_thigh_differently_each_time_all_count():
    """Eight seated lifts of 10 deg whose thigh also rolls about its own
    axis, by a different share of the lift each time (none, as much as it
    lifts, a little the other way): each sets off in its own direction,
    up to 50 deg from the next, and each is a rep."""
    rate = 52.0
    t = _t(70, rate)
    lift = path(t, ((1.0, 10.0), (2.0, 10.0), (1.2, 0.0)), reps=8, period=6.0, lead=4.0)
    share = np.zeros_like(t)
    for j, k in enumerate((0.0, 1.0, 0.3, 1.2, 0.5, -0.3, 0.8, 0.0)):
        share[(t >= 3.0 + 6.0 * j) & (t < 9.0 + 6.0 * j)] = k
    reps = _seated_reps(t, lift, share * lift, 6)
    assert len(reps) == 8


def test_a_small_lift_that_sets_off_across_the_set_still_counts():
    """Seated lifts of 10 deg; the sixth is smaller (7 deg) and the thigh
    rolls as it lifts, so it sets off 70 deg across the others' way. The
    way of so small an excursion is no evidence (a rest that drifts a
    degree or two turns it round): it is judged by its size, and counts."""
    rate = 52.0
    t = _t(60, rate)
    lift = path(t, ((1.0, 10.0), (2.0, 10.0), (1.2, 0.0)), reps=8, period=6.0, lead=4.0)
    roll = np.zeros_like(t)
    odd = (t >= 33.0) & (t < 39.0)
    lift[odd] *= 0.25
    roll[odd] = 2.75 * lift[odd]
    reps = _seated_reps(t, lift, roll, 8)
    assert len(reps) == 8


def test_a_rep_after_which_the_body_settles_back_counts():
    """Hanging leg raises (85 deg, a short pause at the top), one every
    6 s. As the fourth comes down the body swings on back and hangs still
    for a moment 18 deg behind where the lift started before the next one:
    a thigh settling right after a rep is how a posture change begins, but
    not inside a set, behind where the rep started: eight reps."""
    rate = 52.0
    t = _t(60, rate)
    ang = path(t, ((1.0, 85.0), (0.3, 85.0), (1.2, 0.0)), reps=8, period=6.0, lead=4.0)
    back = path(t, ((0.4, -18.0), (1.5, -18.0), (0.6, 0.0)), period=0.0, lead=24.2)
    acc, gyr = rotation_signal(t, ang + back, axis=(0, 1, 0), noise=1, seed=64)
    reps, _ = run(t, acc, gyr)
    assert len(reps) == 8


def test_a_side_lying_hold_whose_heading_creeps_up_counts():
    """A simulated side-lying session (seed 1935808501, 52 Hz: slow lifts
    held 6-9 s, a gyro offset about the vertical the bias estimate has not
    caught up with). The heading, which only the gyro measures, creeps on
    up 7 deg while the last lift is held, so the start of that hold lies
    below the floor of the top it crept to; counted from when the thigh
    got up to that floor, it is a hold (it was taken for 13 s of lying
    there shifted, and the rep lost)."""
    from hipflex.simulate import simulate
    t, acc, gyr, lab = simulate("side_lying_hold", seed=1935808501, rate_hz=52)
    reps, _ = run(t, acc, gyr, profiles.get("side_lying_hold"))
    assert len(reps) == len(lab["reps"]) == 6
    assert all(r.hold_ms > 4000 for r in reps)

def test_turning_while_walking_in_is_still_walking():
    """A simulated hanging session (seed 31003, 208 Hz) that begins with a
    walk to the bar, turning on the way. With ``auto``: the turn is a swing
    about the vertical whose elevation rocks back and forth (stepping round,
    no rep), and the two strides after it were counted as a set of two. A
    turn while walking keeps the walk going, as a stride does: six reps."""
    from hipflex.simulate import simulate
    t, acc, gyr, lab = simulate("hanging_leg_raise", seed=31003, rate_hz=208)
    reps, _ = run(t, acc, gyr, profiles.get("auto"))
    assert len(reps) == len(lab["reps"]) == 6
    assert all(r.rom_deg > 60.0 for r in reps)


@pytest.mark.parametrize("profile", ["auto", "standing_knee_hold"])
def test_a_knee_hold_that_gives_way_for_a_moment_stays_one_rep(profile):
    """Standing knee holds (80 deg, held 8 s). In the third the leg gives
    way, 20 deg in 0.4 s, and is pulled straight back up in 0.6 s. A round
    trip from the held pose as big as a rep would make that pose the rest
    (and measure every later rep from the top); but it went less than half
    way back toward rest and did not stop at the bottom: a wobble in the
    hold. Five reps, each with its full range."""
    rate = 52.0
    t = _t(75, rate)
    ang = path(t, ((1.2, 80.0), (8.0, 80.0), (1.5, 0.0)), reps=5, period=14.0, lead=4.0)
    dip = path(t, ((0.4, -20.0), (0.6, 0.0)), period=0.0, lead=4.0 + 28.0 + 1.2 + 3.5)
    acc, gyr = rotation_signal(t, ang + dip, axis=(0, 1, 0), noise=1, seed=65)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert len(reps) == 5
    assert all(r.rom_deg > 70.0 for r in reps)


def test_a_dip_in_a_hold_is_not_undone_by_a_later_twitch_above_it():
    """Boat poses of 30 s (``v_sit_hold``): 8 s in, the legs sink 10 deg
    (staying above the hold's floor) and come back; 18 s in, they rise
    5 deg higher for a moment. The higher top raises the floor above the
    earlier dip, but that dip was judged against the top as it stood
    then: one still run of 30 s, not an excursion that stayed away from
    rest without holding (the rep was lost)."""
    rate = 52.0
    t = _t(130, rate)
    ang = path(t, ((1.5, 50.0), (8.0, 50.0), (0.6, 40.0), (0.8, 50.0), (9.0, 50.0),
                   (0.5, 55.0), (0.5, 50.0), (10.0, 50.0), (1.5, 0.0)),
               reps=3, period=40.0, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1, seed=67)
    reps, _ = run(t, acc, gyr, profiles.get("v_sit_hold"))
    assert len(reps) == 3
    assert all(27000 < r.hold_ms < 32000 for r in reps)


def test_a_first_side_lying_hold_that_gives_way_is_a_wobble():
    """A simulated side-lying session (seed 23024, 26 Hz, holds that give
    way): the first hold sags back 11 deg and comes up again before the
    side-lying pose the leg came up from has become the rest (it is only
    remembered; the rest is still a pose from before lying down). Back
    toward where the leg came up from, not toward that old rest, is what
    makes it a wobble: the top did not become the rest, and every lift
    counts from the floor."""
    from hipflex.simulate import simulate
    t, acc, gyr, lab = simulate("side_lying_hold", seed=23024, rate_hz=26, hold_wobble=True)
    reps, _ = run(t, acc, gyr, profiles.get("side_lying_hold"))
    assert len(reps) == len(lab["reps"]) == 7
    assert all(r.rom_deg > 35.0 for r in reps)


def test_gaps_and_jitter_do_not_add_or_lose_reps():
    rng = np.random.default_rng(3)
    t = _t(40)
    ang, _ = rep_profile(t, 7, amp=55, rise=0.8, fall=1.0, rest=2.5)
    acc, gyr = rotation_signal(t, ang, axis=(1, 1, 0), noise=1)
    keep = np.ones(len(t), bool)
    for s in rng.choice(len(t) - 30, 12, replace=False):     # stalls up to 250 ms
        keep[s:s + rng.integers(2, 26)] = False
    tj = t + rng.normal(0, 0.002, len(t))                     # 2 ms jitter
    tj = np.maximum.accumulate(tj[keep] + np.arange(keep.sum()) * 1e-6)
    reps, _ = run(tj, acc[keep], gyr[keep])
    assert len(reps) == 7


def test_non_increasing_time_and_huge_gaps_never_raise():
    det = Detector()
    for i in range(200):
        det.update(i * 10, 0.0, 0.0, G, 0.0, 0.0, 0.0)
    assert det.update(1990, 0.0, 0.0, G, 0.0, 0.0, 0.0) is None     # back in time
    assert det.update(1990, 0.0, 0.0, G, 0.0, 0.0, 0.0) is None     # repeated
    det.update(60000, 0.0, 0.0, G, 5.0, 5.0, 5.0)                   # 58 s stall
    det.update(60010, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)                 # zero accel
    det.update(60020, 1e6, -1e6, 1e6, 1e3, -1e3, 1e3)               # absurd values
    assert det.count == 0


def test_new_set_and_params():
    t = _t(30)
    ang, _ = rep_profile(t, 1, amp=60, rise=0.8, fall=1.0, rest=2.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1)
    det = Detector(profiles.get("standing_march"))
    tm = np.rint(t * 1000).astype(int)
    for i in range(len(t)):
        assert det.update(int(tm[i]), *acc[i].tolist(), *gyr[i].tolist()) is None
    assert det.flush() is None          # one lone rep: not a set
    det.count = 5
    det.new_set()
    assert det.count == 0
    det.set_params({"min_rom_deg": 30})
    assert det.params["min_rom_deg"] == 30
    with pytest.raises(KeyError):
        det.set_params({"no_such_param": 1})


def test_profiles_are_integer_dicts_with_the_catalogue_names():
    names = {"auto", "standing_march", "standing_knee_hold", "supine_march", "bridge_march",
             "seated_leg_lift", "hanging_leg_raise", "lying_leg_raise", "v_sit_hold",
             "ball_pass", "mountain_climber", "front_support_hip_flexion", "lunge",
             "side_lying_hold"}
    assert set(profiles.NAMES) == names
    for n in names:
        p = profiles.get(n)
        assert set(p) == set(profiles.DEFAULTS)
        assert all(isinstance(v, int) for v in p.values())
    assert profiles.get("seated_leg_lift")["min_rom_deg"] < 10 <= profiles.get("auto")["min_rom_deg"]
    with pytest.raises(KeyError):
        profiles.get("yoga")


def test_settings_example_documents_the_real_defaults():
    """firmware/settings.toml.example shows each detector parameter with the
    value the core actually uses, so the board's documentation cannot drift."""
    import os
    import re
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = open(os.path.join(root, "firmware", "settings.toml.example"), encoding="utf-8").read()
    shown = {m.group(1).lower(): int(m.group(2))
             for m in re.finditer(r"HIPFLEX_([A-Z_]+) = (\d+)", text)}
    for key, value in profiles.DEFAULTS.items():
        assert shown.get(key) == value, key


@pytest.mark.parametrize("slides", [(6, -4, 5, -7, 4, 6, -5), (8, 8, -8, -8, 8, -8, 8),
                                    (5, 5, 5, 5, 5, 5, 5)])
@pytest.mark.parametrize("amp", [6.0, 8.0])
def test_a_knee_sliding_sideways_between_seated_lifts_is_no_rep(amp, slides):
    """Eight seated straight-leg lifts of ``amp`` deg, each held 2 s;
    between them the knee slides out or in by 4-8 deg (a turn of the
    horizontal thigh about the vertical, no tilt at all). With the seated
    profile, whose reps always tilt the thigh, the slides are neither reps
    nor a new rest to measure the lifts from: eight reps."""
    rate = 52.0
    n = len(slides) + 1
    t = _t(8.0 + 7.0 * n, rate)
    lift = path(t, ((1.0, amp), (2.0, amp), (1.2, 0.0)), reps=n, period=7.0, lead=4.0)
    yaw = np.zeros_like(t)
    cur = 0.0
    for k, s in enumerate(slides):
        t0 = 8.4 + 7.0 * k          # 0.2 s after each lowering ends
        ramp(t, yaw, t0, 1.2, cur, cur + s)
        cur += s
        yaw[t >= t0 + 1.2] = cur
    seated = rotmat((0, 1, 0), 90.0)
    R = [rotmat((0, 0, 1), yaw[i]) @ rotmat((0, 1, 0), -lift[i]) @ seated for i in range(len(t))]
    acc, gyr = imu_from_orientations(t, R, noise=1.0, seed=int(amp) + len(set(slides)))
    reps, _ = run(t, acc, gyr, profiles.get("seated_leg_lift"))
    assert len(reps) == n
    assert all(abs(r.rom_deg - amp) < 2.0 for r in reps)


@pytest.mark.parametrize("profile", ["ball_pass", "auto"])
def test_first_rep_after_lying_down_whose_lowering_pauses_counts(profile):
    """Lying down (the thigh turns 90 deg and stays), then eight 90 deg leg
    raises; the first one's lowering stops at 40 deg for 2 s before going on
    down. That first rep closes half way down as a round trip from the new
    pose, and the pause right after it is its own lowering, not a move on
    to a new posture: eight reps."""
    rate = 52.0
    t = _t(50.0, rate)
    lie = np.zeros_like(t)
    ramp(t, lie, 3.0, 2.5, 0.0, 90.0)
    lie[t >= 5.5] = 90.0
    lift = path(t, ((1.2, 90.0), (0.3, 90.0), (0.6, 40.0), (2.0, 40.0), (0.6, 0.0)),
                period=0.0, lead=9.0)
    lift += path(t, ((1.2, 90.0), (0.3, 90.0), (1.4, 0.0)), reps=7, period=3.9, lead=14.7)
    R = [rotmat((0, 1, 0), -lift[i]) @ rotmat((1, 0, 0), lie[i]) for i in range(len(t))]
    acc, gyr = imu_from_orientations(t, R, noise=1.0, seed=3)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert len(reps) == 8
    assert all(r.rom_deg > 80.0 for r in reps)


def test_a_stall_when_reps_are_handed_out_loses_none():
    """Six raises; the first two are handed out together once the third
    confirms the set. Wherever a 0.3 s stall of the stream falls around a
    moment reps are handed out, one call then runs several detector steps,
    and each rep they hand out still comes out (a late sample at 26 Hz does
    the same on a smaller scale)."""
    rate = 52.0
    t = _t(30.0, rate)
    ang, _ = rep_profile(t, 6, amp=60.0, rest=1.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1.0, seed=1)
    det = Detector(profiles.get("auto"))
    handed = []
    for i in range(len(t)):
        if det.update(int(round(t[i] * 1000)), *acc[i].tolist(), *gyr[i].tolist()):
            handed.append(t[i])
    assert len(handed) == 6
    clean = [r.start_ms for r in run(t, acc, gyr, profiles.get("auto"))[0]]
    for te in handed:
        for off in (-0.25, -0.15, -0.05):
            keep = (t < te + off) | (t >= te + off + 0.3)
            reps, _ = run(t[keep], acc[keep], gyr[keep], profiles.get("auto"))
            assert [r.start_ms for r in reps] == clean, (te, off)


@pytest.mark.parametrize("pre", [0.9, 1.3])
@pytest.mark.parametrize("profile", ["standing_knee_hold", "auto"])
def test_a_knee_hold_that_gives_way_early_is_no_wandering_path(profile, pre):
    """Six knee holds at 83 deg; ``pre`` s after reaching the top (still for
    about a second, not yet a remembered pose) each gives way to 65 deg and
    is pulled back up within a second, then held 5 s. Down and up again are
    two turns of the path, as on the way down to the floor, but they are a
    dip in a hold under way: six reps, each held."""
    rate = 52.0
    period = 1.0 + pre + 0.4 + 0.5 + 5.0 + 1.5 + 3.0
    t = _t(4.0 + 6 * period + 4.0, rate)
    ang = path(t, ((1.0, 83.0), (pre, 83.0), (0.4, 65.0), (0.5, 83.0), (5.0, 82.0), (1.5, 0.0)),
               reps=6, period=period, lead=4.0)
    acc, gyr = rotation_signal(t, ang, axis=(0, 1, 0), noise=1.0, seed=2)
    reps, _ = run(t, acc, gyr, profiles.get(profile))
    assert len(reps) == 6
    assert all(r.hold_ms > 4000 for r in reps)
