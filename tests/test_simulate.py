"""The IMU simulator: physics of the signals, sensor model, labels, CLI, corpus."""

import json
import math
import os

import numpy as np
import pytest

from hipflex import cli, recording
from hipflex.simulate import RATES, SimulateError, generate_corpus, simulate
from hipflex.sim.exercises import NAMES

G = 9.80665
# a clean, in-plane set: no body motion, no sensor errors, no behaviours
CLEAN = dict(ideal=True, body_motion=0.0, quirks=False, session=False)


def integrate(t, w, i0, i1):
    """Rotation vector [deg] from integrating rate samples i0..i1 (trapezoid)."""
    seg = w[i0:i1 + 1]
    dt = np.diff(t[i0:i1 + 1])[:, None]
    return np.degrees(np.sum(0.5 * (seg[1:] + seg[:-1]) * dt, axis=0))


def idx(t, s):
    return int(np.searchsorted(t, s))


def test_rest_reads_gravity_and_gyro_bias():
    t, acc, gyr, lab = simulate("lying_leg_raise", reps=2, seed=4, session=False,
                                still_start_s=4.0, fidgets=False)
    sp = lab["params"]["sensor"]
    still = t < 3.0
    mag = np.linalg.norm(acc[still], axis=1)
    # |f| = g up to the offsets (<= 40 mg per axis) and scale errors
    assert abs(mag.mean() - G) < 0.08 * G
    assert mag.std() < 0.05
    bias = np.radians(np.array(sp["gyro_bias_dps"]))
    assert np.allclose(gyr[still].mean(axis=0), bias, atol=math.radians(0.5))
    # noise is there but small (datasheet noise density and quantisation)
    assert 0 < gyr[still].std(axis=0).max() < math.radians(0.6)


@pytest.mark.parametrize("exercise,seed", [("standing_knee_hold", 1), ("lying_leg_raise", 2),
                                           ("supine_march", 3)])
def test_gyro_integral_over_rise_matches_labelled_rom(exercise, seed):
    t, acc, gyr, lab = simulate(exercise, reps=3, seed=seed, **CLEAN)
    assert len(lab["reps"]) == 3
    for r in lab["reps"]:
        rv = integrate(t, gyr, idx(t, r["start"]) - 1, idx(t, r["peak"]))
        assert abs(np.linalg.norm(rv) - r["rom_deg"]) < 3.0
        # the whole rep comes back to rest: the net rotation is ~0
        back = integrate(t, gyr, idx(t, r["start"]) - 1, idx(t, r["end"]) + 1)
        assert np.linalg.norm(back) < 3.0


def test_accelerometer_sees_more_than_gravity_during_fast_reps():
    t, acc, gyr, lab = simulate("standing_march", reps=6, seed=7, **CLEAN)
    mag = np.linalg.norm(acc, axis=1)
    for r in lab["reps"]:
        seg = mag[idx(t, r["start"]):idx(t, r["end"])]
        # tangential + centripetal acceleration of a sensor 0.1-0.3 m from the hip
        assert seg.max() - seg.min() > 3.0
    # at rest between reps only gravity
    assert abs(np.median(mag) - G) < 0.05


def test_mounting_rotates_axes_but_not_magnitudes():
    a = simulate("lunge", reps=3, seed=9, mount_deg=(0, 0, 0), **CLEAN)
    b = simulate("lunge", reps=3, seed=9, mount_deg=(35, -60, 120), **CLEAN)
    assert np.array_equal(a[0], b[0])
    assert np.abs(a[1] - b[1]).max() > 3.0
    assert np.abs(a[2] - b[2]).max() > 0.3
    assert np.allclose(np.linalg.norm(a[1], axis=1), np.linalg.norm(b[1], axis=1), atol=1e-6)
    assert np.allclose(np.linalg.norm(a[2], axis=1), np.linalg.norm(b[2], axis=1), atol=1e-6)
    # one fixed rotation maps every sample: [acc|gyr]_b = [acc|gyr]_a @ Q
    Q, *_ = np.linalg.lstsq(np.vstack([a[1], 10 * a[2]]), np.vstack([b[1], 10 * b[2]]),
                            rcond=None)
    assert np.allclose(Q @ Q.T, np.eye(3), atol=1e-6)
    assert a[3]["reps"] == b[3]["reps"]


def test_strap_side_and_leg_change_the_raw_signals():
    a = simulate("supine_march", reps=2, seed=5, strap_side_deg=0, **CLEAN)
    b = simulate("supine_march", reps=2, seed=5, strap_side_deg=90, **CLEAN)
    assert np.abs(a[1] - b[1]).max() > 1.0


def test_side_lying_rep_is_seen_by_the_gyro_only():
    t, acc, gyr, lab = simulate("side_lying_hold", reps=3, seed=11, **CLEAN)
    assert len(lab["reps"]) == 3
    for r in lab["reps"]:
        assert 25 <= r["rom_deg"] <= 70 and r["hold"] >= 4.0
        i0 = idx(t, r["start"])
        before = acc[idx(t, r["start"] - 0.4):i0].mean(axis=0)
        top = acc[idx(t, r["peak"] + 0.3):idx(t, r["peak"] + r["hold"] - 0.3)].mean(axis=0)
        ang = math.degrees(math.acos(np.clip(before @ top / np.linalg.norm(before) /
                                             np.linalg.norm(top), -1, 1)))
        assert ang < 1.0          # gravity does not move in the sensor frame
        rv = integrate(t, gyr, i0 - 1, idx(t, r["peak"]))
        assert abs(np.linalg.norm(rv) - r["rom_deg"]) < 3.0


def test_axial_rotation_makes_gyro_exceed_direction_change():
    t, acc, gyr, lab = simulate("lying_leg_raise", reps=2, seed=2, ideal=True, body_motion=0.0,
                                session=False, quirks=False, axial_deg=25.0, abduction_deg=8.0,
                                rom_deg=60.0)
    for r in lab["reps"]:
        rv = integrate(t, gyr, idx(t, r["start"]) - 1, idx(t, r["peak"]))
        assert np.linalg.norm(rv) > r["rom_deg"] + 2.0
        assert 55 < r["rom_deg"] < 75


def test_pause_down_stops_some_lowerings_part_way():
    """With ``pause_down`` some reps stop on the way down, the hip still
    flexed by 30-60 % of the rep, for 0.5-2 s; the rep's label still runs
    to the end of the lowering (the pause is not a hold)."""
    t, acc, gyr, lab = simulate("lying_leg_raise", reps=8, seed=5, pause_down=True, **CLEAN)
    assert lab["params"]["pause_down"] is True
    speed = np.degrees(np.linalg.norm(gyr, axis=1))
    rate = 1.0 / np.median(np.diff(t))
    paused = 0
    for r in lab["reps"]:
        down = (t > r["peak"] + r["hold"] + 0.2) & (t < r["end"] - 0.2)
        still = np.flatnonzero(down & (speed < 0.5))
        if len(still) == 0:
            continue
        assert 0.3 <= len(still) / rate <= 2.1
        # the rotation from the top to the pause: 40-70 % of the rep
        gone = integrate(t, gyr, idx(t, r["peak"] + r["hold"]), still[0])
        assert 0.35 * r["rom_deg"] < np.linalg.norm(gone) < 0.75 * r["rom_deg"]
        paused += 1
    assert 1 <= paused < len(lab["reps"])
    # without it, the same seed lowers every rep in one go
    t, acc, gyr, lab = simulate("lying_leg_raise", reps=8, seed=5, pause_down=False, **CLEAN)
    speed = np.degrees(np.linalg.norm(gyr, axis=1))
    for r in lab["reps"]:
        down = (t > r["peak"] + r["hold"] + 0.2) & (t < r["end"] - 0.2)
        assert not np.any(down & (speed < 0.5))

def test_hold_wobble_gives_way_in_long_holds():
    """With ``hold_wobble`` a long hold may give way once or twice: the
    leg drops 10-30 % of its range (at least 4 deg) and is pulled back
    within about 1.5 s, well inside the labelled hold; without it, the
    same seed holds without such a drop (sag and tremor only)."""
    def drops(wobble):
        t, acc, gyr, lab = simulate("standing_knee_hold", reps=6, seed=8, hold_wobble=wobble,
                                    **CLEAN)
        assert lab["params"]["hold_wobble"] is wobble
        found = []
        for r in lab["reps"]:
            i0 = idx(t, r["peak"] + 0.3)
            i1 = idx(t, r["peak"] + r["hold"] - 0.3)
            # how far the thigh turned from the top of the hold, over time
            gone = np.array([np.linalg.norm(integrate(t, gyr, i0, i)) for i in range(i0, i1)])
            if gone.max() > 4.0:
                k = int(np.argmax(gone))
                back = gone[k:]
                # it came back up within about 1.5 s
                assert back.min() < 0.5 * gone.max()
                assert (np.argmax(back < 0.5 * gone.max())) / (1.0 / np.median(np.diff(t))) < 1.5
                assert gone.max() < 0.35 * r["rom_deg"] + 2.0
                found.append(gone.max())
        return found
    assert len(drops(True)) >= 2
    assert drops(False) == []


def test_rest_drift_on_a_seat_lands_back_on_it():
    """A leg lowered onto a chair lands back on the seat: with a large rest
    drift the rests before each rep tilt at most SUPPORT_SLACK (2 deg) from
    the first one, and the drift shows sideways instead (the thigh turns
    about the vertical between rests); standing, the same drift tilts the
    rest along the lift."""
    def rests(exercise, **kw):
        t, acc, gyr, lab = simulate(exercise, reps=10, seed=4, rest_drift_deg=5.0, **kw, **CLEAN)
        assert lab["params"]["rest_drift_deg"] == 5.0
        starts = [idx(t, r["start"]) for r in lab["reps"]]
        n = max(2, int(0.15 * lab["params"]["rate_hz"]))
        g = [acc[i - n:i].mean(axis=0) for i in starts]
        tilt = [math.degrees(math.acos(min(1.0, float(np.dot(g[0], v)) / np.linalg.norm(g[0])
                                                / np.linalg.norm(v)))) for v in g]
        turn = [float(np.linalg.norm(integrate(t, gyr, starts[0], i))) for i in starts]
        return tilt, turn
    tilt, turn = rests("seated_leg_lift", posture="chair")
    assert max(tilt) < 2.5
    assert max(turn) > 4.0
    tilt, turn = rests("standing_knee_hold")
    assert max(tilt) > 4.0


def test_clipping_at_full_scale():
    t, acc, gyr, lab = simulate("standing_march", reps=8, seed=3, accel_fs_g=2, gyro_fs_dps=125,
                                session=False, quirks=False, rom_deg=85, tempo=0.8)
    # int16 output: the code range ends at 32768 LSB (+-2 g, +-143 dps here)
    a_lim = 32768 * 0.061e-3 * G
    g_lim = math.radians(32768 * 4.375e-3)
    assert np.abs(acc).max() <= a_lim + 1e-9
    assert np.abs(gyr).max() <= g_lim + 1e-9
    assert (np.abs(gyr) > g_lim - math.radians(0.02)).sum() > 5
    assert (np.abs(acc) > a_lim - 0.01).sum() > 5
    # quantised to the LSB
    lsb = 4.375e-3
    counts = np.degrees(gyr) / lsb
    assert np.allclose(counts, np.rint(counts), atol=1e-6)


def test_same_seed_same_output_different_seed_different():
    a = simulate("bridge_march", seed=21, rate_hz=52)
    b = simulate("bridge_march", seed=21, rate_hz=52)
    c = simulate("bridge_march", seed=22, rate_hz=52)
    for x, y in zip(a[:3], b[:3]):
        assert np.array_equal(x, y)
    assert a[3] == b[3]
    assert len(a[0]) != len(c[0]) or not np.array_equal(a[1], c[1])
    assert a[3]["reps"] != c[3]["reps"]


@pytest.mark.parametrize("rate", RATES)
def test_rates_give_requested_median_dt(rate):
    t, acc, gyr, lab = simulate("walking", seed=rate, rate_hz=rate, duration=12)
    dt = np.diff(t)
    assert np.all(dt > 0)
    assert abs(np.median(dt) - 1.0 / rate) < 0.03 / rate
    assert 11.0 < t[-1] < 14.0
    assert lab["reps"] == []


def test_dropped_samples_and_stalls_leave_gaps_but_time_increases():
    t, acc, gyr, lab = simulate("standing_knee_hold", reps=4, seed=8, rate_hz=104)
    dt = np.diff(t)
    assert dt.min() > 0
    assert dt.max() < 0.3
    assert lab["params"]["sensor"]["jitter_ms"] > 0


def test_corpus_files_and_labels(tmp_path, capsys):
    out = tmp_path / "c"
    rc = cli.main(["simulate", "--corpus", str(out), "--per-exercise", "1", "--seed", "13",
                   "--rates", "26"])
    assert rc == 0
    assert "wrote %d recordings" % len(NAMES) in capsys.readouterr().out
    files = sorted(os.listdir(out))
    assert len([f for f in files if f.endswith(".labels.json")]) == len(NAMES)
    csvs = [f for f in files if f.endswith(".csv")]
    assert sorted(f.split("_00_")[0] for f in csvs) == sorted(NAMES)
    for f in csvs:
        rec = recording.read(str(out / f))
        lab = rec.labels
        assert lab["source"] == "simulated" and isinstance(lab["params"], dict)
        assert f.startswith(lab["exercise"] + "_")
        assert 20 < rec.duration < 250
        assert abs(rec.rate_hz - 26) < 1.0
        if lab["exercise"] in ("walking", "transitions"):
            assert lab["reps"] == []
            continue
        assert len(lab["reps"]) >= 2
        prev_end = -1.0
        for rep in lab["reps"]:
            assert set(rep) >= {"start", "peak", "end", "hold", "rom_deg"}
            assert prev_end < rep["start"] < rep["peak"] <= rep["end"] <= rec.t[-1]
            assert 0 <= rep["hold"] <= rep["end"] - rep["start"]
            assert rep["peak"] + rep["hold"] <= rep["end"]
            assert rep["rom_deg"] > 3
            prev_end = rep["end"]


def test_corpus_takes_the_motion_options_for_every_recording(tmp_path, capsys):
    """Options given with --corpus are set in every recording (not drawn);
    those that fit one recording only are refused with a one-line error."""
    out = tmp_path / "c"
    rc = cli.main(["simulate", "--corpus", str(out), "--per-exercise", "1", "--seed", "13",
                   "--rates", "26", "--pause-down", "--no-session", "--leg", "left",
                   "--rest-drift", "2.5"])
    assert rc == 0
    labs = [json.load(open(str(out / f))) for f in sorted(os.listdir(out))
            if f.endswith(".labels.json")]
    assert len(labs) == len(NAMES)
    for lab in labs:
        p = lab["params"]
        assert p["leg"] == "left" and p["session"] is False
        if lab["exercise"] not in ("walking", "transitions"):
            assert p["pause_down"] is True and p["rest_drift_deg"] == 2.5
    # without them the same seed draws: not every recording on the left leg
    out2 = tmp_path / "d"
    assert cli.main(["simulate", "--corpus", str(out2), "--per-exercise", "1", "--seed", "13",
                     "--rates", "26"]) == 0
    legs = {json.load(open(str(out2 / f)))["params"]["leg"] for f in os.listdir(out2)
            if f.endswith(".labels.json")}
    assert legs == {"left", "right"}
    capsys.readouterr()
    for extra in (["--posture", "chair"], ["--reps", "5"], ["-o", str(tmp_path / "x.csv")]):
        rc = cli.main(["simulate", "--corpus", str(tmp_path / "e"), "--per-exercise", "1"] + extra)
        err = capsys.readouterr().err
        assert rc != 0 and "with --corpus" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "e").exists()


def test_generate_corpus_api_varies_rates_and_seeds(tmp_path):
    kw = dict(rates=(26, 52), exercises=("seated_leg_lift", "walking"))
    a = generate_corpus(str(tmp_path / "a"), 2, 1, **kw)
    b = generate_corpus(str(tmp_path / "b"), 2, 2, **kw)
    assert len(a) == 4 and sorted({r["rate_hz"] for r in a}) == [26, 52]
    for r in a:
        assert os.path.exists(r["path"]) and r["bytes"] > 1000
        assert os.path.exists(recording.labels_path(r["path"]))
    assert open(a[0]["path"]).read() != open(b[0]["path"]).read()


def test_typical_ranges_per_exercise():
    ranges = {"standing_march": (50, 100), "seated_leg_lift": (4, 12),
              "v_sit_hold": (34, 78), "side_lying_hold": (25, 66)}
    for ex, (lo, hi) in ranges.items():
        t, acc, gyr, lab = simulate(ex, seed=1, rate_hz=26, quirks=False)
        roms = [r["rom_deg"] for r in lab["reps"]]
        assert roms and lo <= min(roms) and max(roms) <= hi, (ex, roms)
        if ex == "v_sit_hold":
            assert 2 <= len(roms) <= 4
            assert all(r["hold"] >= 15 for r in lab["reps"])


def test_transitions_and_session_are_not_labelled():
    t, acc, gyr, lab = simulate("supine_march", reps=6, seed=2, rate_hz=52, session=True)
    assert len(lab["reps"]) == 6
    assert any("pose supine_bent" in e for e in lab["params"]["events"])
    # the set starts after lying down: the first reps start after the transition
    t_lie = float([e for e in lab["params"]["events"] if "pose supine_bent" in e][0].split()[0])
    assert lab["reps"][0]["start"] > t_lie
    # the thigh moved a lot before the set (standing -> lying): gravity turned ~90 deg
    a0 = acc[t < 1.0].mean(axis=0)
    a1 = acc[(t > lab["reps"][0]["start"] - 1.0) & (t < lab["reps"][0]["start"])].mean(axis=0)
    ang = math.degrees(math.acos(a0 @ a1 / np.linalg.norm(a0) / np.linalg.norm(a1)))
    assert ang > 60


def test_duration_and_bad_options():
    t, acc, gyr, lab = simulate("standing_march", seed=1, duration=30, rate_hz=26)
    assert 29 < t[-1] < 31.5
    with pytest.raises(SimulateError):
        simulate("jumping_jacks")
    with pytest.raises(SimulateError):
        simulate("auto")
    with pytest.raises(SimulateError):
        simulate("lunge", gyro_fs_dps=300)
    with pytest.raises(SimulateError):
        simulate("lunge", colour="red")
    with pytest.raises(SimulateError):
        simulate("v_sit_hold", reps=40, duration=20)


def test_cli_writes_recording_and_labels(tmp_path, capsys):
    out = tmp_path / "m.csv"
    rc = cli.main(["simulate", "standing_march", "--reps", "4", "--seed", "2", "--rate", "52",
                   "--ideal", "-o", str(out)])
    assert rc == 0
    assert out.exists() and (tmp_path / "m.labels.json").exists()
    rec = recording.read(str(out))
    assert rec.labelled_count() == 4 and rec.exercise == "standing_march"
    assert abs(rec.rate_hz - 52) < 1
    lab = json.loads((tmp_path / "m.labels.json").read_text())
    assert lab["params"]["seed"] == 2 and lab["params"]["ideal"] is True
    assert "wrote" in capsys.readouterr().out


def test_cli_bad_exercise_is_one_line_exit_2(tmp_path, capsys):
    rc = cli.main(["simulate", "cartwheel", "-o", str(tmp_path / "x.csv")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hipflex: error:") and "cartwheel" in err
    assert len(err.splitlines()) == 1
    assert not os.path.exists(tmp_path / "x.csv")
    rc = cli.main(["simulate", "lunge"])
    assert rc == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
