"""Exercise catalogue for the simulator and the session plans that use it.

Ranges are (low, high) and drawn uniformly: ``rom`` excursion of the thigh
from its rest pose [deg]; ``rise``/``lower`` durations [s]; ``hold`` time at
the top [s] (a short top pause for dynamic exercises); ``rest`` still time
between reps [s]; ``reps`` default number of sensor-leg reps. ``alt`` is the
probability that the set alternates legs (the sensor leg does every other
rep); ``other`` names how the other leg's reps move the body.
"""

import math

import numpy as np

from hipflex.sim.motion import PATHS, POSES, Builder

EXERCISES = {
    "standing_march": dict(postures=("standing",), rom=(60, 90), hold=(0.0, 0.08),
                           rise=(0.3, 0.42), lower=(0.32, 0.46), rest=(0.0, 0.1),
                           reps=(8, 15), alt=1.0, other="march", end_wobble=0.8e-3),
    "standing_knee_hold": dict(postures=("standing",), rom=(70, 90), hold=(5.0, 10.0),
                               rise=(0.8, 1.5), lower=(1.0, 2.0), rest=(1.5, 4.0),
                               reps=(5, 8), alt=0.0, other="march", end_wobble=0.6e-3),
    "supine_march": dict(postures=("supine_bent",), rom=(30, 50), hold=(0.0, 0.3),
                         rise=(0.45, 0.8), lower=(0.55, 0.9), rest=(0.0, 0.3),
                         reps=(8, 15), alt=1.0, other="supine", end_wobble=0.4e-3),
    "bridge_march": dict(postures=("bridge",), rom=(30, 60), hold=(0.0, 0.8),
                         rise=(0.5, 0.9), lower=(0.6, 1.0), rest=(0.0, 0.3),
                         reps=(6, 12), alt=1.0, other="bridge", end_wobble=0.4e-3),
    "seated_leg_lift": dict(postures=("chair", "floor_seated"), rom=(5, 10), hold=(2.0, 3.0),
                            rise=(0.8, 1.5), lower=(1.0, 2.0), rest=(1.0, 3.0),
                            reps=(8, 15), alt=0.0, other="none", end_wobble=0.3e-3),
    "hanging_leg_raise": dict(postures=("hanging",), rom=(70, 110), hold=(0.0, 1.0),
                              rise=(0.8, 1.4), lower=(1.0, 1.8), rest=(0.5, 2.0),
                              reps=(6, 12), alt=0.0, other="none", end_wobble=0.2e-3),
    "lying_leg_raise": dict(postures=("supine_flat",), rom=(60, 90), hold=(0.0, 1.0),
                            rise=(1.0, 2.0), lower=(1.4, 2.5), rest=(0.3, 1.5),
                            reps=(8, 12), alt=0.0, other="none", end_wobble=0.3e-3),
    "v_sit_hold": dict(postures=("floor_seated",), rom=(40, 70), hold=(20.0, 40.0),
                       rise=(1.0, 2.0), lower=(1.0, 2.0), rest=(4.0, 10.0),
                       reps=(2, 3), alt=0.0, other="none", end_wobble=0.5e-3, tremor=2.0),
    "ball_pass": dict(postures=("supine_flat",), rom=(70, 90), hold=(0.0, 0.5),
                      rise=(1.0, 1.6), lower=(1.2, 2.0), rest=(0.3, 1.2),
                      reps=(8, 12), alt=0.0, other="none", end_wobble=0.3e-3),
    "mountain_climber": dict(postures=("plank",), rom=(60, 100), hold=(0.0, 0.03),
                             rise=(0.24, 0.36), lower=(0.25, 0.36), rest=(0.05, 0.15),
                             reps=(10, 20), alt=1.0, other="climber", end_wobble=1.4e-3),
    "front_support_hip_flexion": dict(postures=("plank",), rom=(60, 90), hold=(0.0, 1.5),
                                      rise=(1.0, 1.8), lower=(1.0, 1.8), rest=(0.3, 1.5),
                                      reps=(8, 12), alt=0.5, other="tuck", end_wobble=0.6e-3,
                                      tremor=1.5),
    "lunge": dict(postures=("standing",), rom=(60, 90), hold=(0.0, 1.0),
                  rise=(0.8, 1.3), lower=(0.8, 1.3), rest=(0.4, 1.5),
                  reps=(6, 12), alt=0.5, other="lunge", end_wobble=0.8e-3),
    "side_lying_hold": dict(postures=("side_lying",), rom=(30, 60), hold=(5.0, 10.0),
                            rise=(1.0, 2.0), lower=(1.0, 2.0), rest=(1.0, 3.0),
                            reps=(5, 8), alt=0.0, other="none", end_wobble=0.3e-3),
}

DISTRACTORS = ("walking", "transitions")

# Postures whose thigh rests on a surface (seat, floor, mat): between reps
# the leg is lowered back onto it, so along the lift its rest moves only by
# the give of a cushion, soft tissue and the pelvis shifting (real straight-leg
# lifts lying down settle within about 2 deg of their first rest), at most
# SUPPORT_SLACK [deg] either way; sideways the leg lands where it will.
SUPPORTED = ("chair", "floor_seated", "supine_flat")
SUPPORT_SLACK = 2.0
NAMES = tuple(EXERCISES) + DISTRACTORS

# Which quirks make sense where.
_NO_SLOW = ("mountain_climber", "hanging_leg_raise", "lunge", "v_sit_hold")


def default_posture(exercise):
    return EXERCISES[exercise]["postures"][0] if exercise in EXERCISES else "standing"


def draw_options(exercise, rng, opts):
    """Fill in every unset option with a random draw (the default 'real people' mix).

    ``opts`` is the user's dict (None = draw); returns a complete, JSON-able dict.
    """
    o = dict(opts)
    spec = EXERCISES.get(exercise)
    quirks = o.get("quirks")
    q = (lambda p: rng.random() < p) if quirks is None else (lambda p: bool(quirks))

    def setdef(key, val):
        v = val()  # always draw, so one option does not shift the others' random stream
        if o.get(key) is None:
            o[key] = v

    setdef("leg", lambda: "right" if rng.random() < 0.6 else "left")
    if spec:
        setdef("posture", lambda: spec["postures"][int(rng.integers(len(spec["postures"])))])
        setdef("alternating", lambda: bool(rng.random() < spec["alt"]))
    else:
        setdef("posture", lambda: "standing")
        setdef("alternating", lambda: False)
    setdef("session", lambda: bool(rng.random() < 0.85) if quirks is None else bool(quirks))
    setdef("tempo", lambda: float(np.exp(rng.normal(0.0, 0.15))))
    setdef("fatigue", lambda: float(rng.uniform(0.0, 1.0)) if q(0.8) else 0.0)
    slow_ok = spec is not None and exercise not in _NO_SLOW
    setdef("slow_hold", lambda: bool(slow_ok and q(0.12)))
    turn = q(0.25)
    setdef("axial_deg", lambda: float(rng.uniform(10, 30)) if turn else 0.0)
    setdef("abduction_deg", lambda: float(rng.uniform(3, 10)) if turn else 0.0)
    setdef("rest_drift_deg", lambda: float(rng.uniform(1.5, 4.0)) if q(0.4) else 0.0)
    setdef("reposition", lambda: bool(q(0.4)))
    setdef("fidgets", lambda: bool(q(0.7)))
    setdef("still_start_s", lambda: float(rng.uniform(1.0, 4.0)))
    if o.get("pause_down") is None:
        # drawn from a child generator: the other draws (and so every
        # corpus made before this behaviour existed) stay as they were
        qr = rng.spawn(1)[0]
        ok = spec is not None and spec["rise"][0] >= 0.4   # not quick drives
        o["pause_down"] = bool(ok and (qr.random() < 0.2 if quirks is None else quirks))
    if o.get("hold_wobble") is None:
        # its own child generator too (the second one spawned here)
        wr = rng.spawn(1)[0]
        ok = spec is not None and (spec["hold"][1] >= 5.0 or bool(o.get("slow_hold")))
        o["hold_wobble"] = bool(ok and (wr.random() < 0.25 if quirks is None else quirks))
    if o.get("body_motion") is None:
        o["body_motion"] = 1.0
    if exercise in EXERCISES and o["posture"] not in EXERCISES[exercise]["postures"]:
        if o["posture"] not in PATHS:
            raise ValueError("unknown posture %r" % o["posture"])
    return o


class Plan:
    """Draws the reps of one set and lays them into a :class:`Builder`."""

    def __init__(self, exercise, b, o, rng):
        self.ex = exercise
        self.spec = EXERCISES[exercise]
        self.b = b
        self.o = o
        self.rng = rng
        spec = self.spec
        rom = spec["rom"]
        hold = spec["hold"]
        rise, lower = spec["rise"], spec["lower"]
        if o.get("slow_hold"):
            rom = (15.0, 25.0) if rom[1] > 15 else rom
            hold = (max(3.0, hold[0]), max(6.0, hold[1]))
            rise, lower = (2.0, 4.0), (2.0, 4.0)
        if o.get("rom_deg") is not None:
            rom = (float(o["rom_deg"]), float(o["rom_deg"]))
        if o.get("hold_s") is not None:
            hold = (float(o["hold_s"]), float(o["hold_s"]))
        self.rom_set = float(rng.uniform(*rom))
        self.rom_lim = (0.85 * rom[0], min(1.1 * rom[1], 125.0))
        self.hold_rng = hold
        self.rise_rng, self.lower_rng = rise, lower
        self.s = 1.0 if o["leg"] == "right" else -1.0
        self.tremor = spec.get("tremor", 1.0) * float(rng.uniform(0.02, 0.05))
        # own generators for the paused lowerings and the wobbling holds
        # (see draw_options), spawned in that order
        self.prng = rng.spawn(1)[0] if o.get("pause_down") else None
        self.wrng = rng.spawn(1)[0] if o.get("hold_wobble") else None

    def draw_rep(self, x, other=False):
        """Parameters of one rep at set progress ``x`` in [0, 1].

        ``other``: a rep of the other leg; with ``slow_hold`` the other leg
        keeps a moderate pace so the set does not last minutes.
        """
        rng, o = self.rng, self.o
        if other and o.get("slow_hold"):
            spec = self.spec
            return dict(rom=self.rom_set, rise=rng.uniform(*spec["rise"]) * 2.0,
                        lower=rng.uniform(*spec["lower"]) * 2.0,
                        hold=rng.uniform(*spec["hold"]), sag=0.0, rest=rng.uniform(*spec["rest"]),
                        axial=0.0, abd=0.0)
        f = o["fatigue"]
        tempo = o["tempo"] * (1.0 + 0.25 * f * x)
        rom = self.rom_set * (1.0 + 0.06 * rng.standard_normal()) * (1.0 - 0.12 * f * x)
        rom = float(np.clip(rom, *self.rom_lim))
        rise = rng.uniform(*self.rise_rng) * tempo * (1.0 + 0.07 * rng.standard_normal())
        lower = rng.uniform(*self.lower_rng) * tempo * (1.0 + 0.07 * rng.standard_normal())
        lower = max(lower, 1.05 * rise) if self.rise_rng[0] >= 0.4 else lower
        hold = rng.uniform(*self.hold_rng) * (1.0 + 0.08 * rng.standard_normal())
        hold = max(0.0, hold * (1.0 - 0.15 * f * x))
        if hold < 0.05:
            hold = 0.0
        sag = 0.0
        if hold > 1.0:
            sag = min(rng.uniform(0.5, 2.0) * (1.0 + f * x) + 0.05 * hold, 0.15 * rom)
        rest = rng.uniform(*self.spec["rest"]) * tempo
        return dict(rom=rom, rise=max(rise, 0.12), lower=max(lower, 0.12), hold=hold,
                    sag=sag, rest=rest, axial=o["axial_deg"] * rng.uniform(0.6, 1.0),
                    abd=o["abduction_deg"] * rng.uniform(0.5, 1.0))

    def hold_top(self, r, top):
        """The hold at the top, sagging by ``r["sag"]``. With ``hold_wobble``
        a long hold (4 s or more) may give way once or twice: the leg drops
        10-30 % of its range (at least 4 deg) in 0.3-0.6 s and is pulled back
        up in 0.4-0.9 s (a tiring boat pose or knee hold)."""
        b, hold, sag = self.b, r["hold"], r["sag"]
        wr = self.wrng
        n = 0
        if wr is not None and hold >= 4.0 and wr.random() < 0.6:
            n = 2 if hold >= 15.0 and wr.random() < 0.5 else 1
        t0 = b.t
        for k in range(n):
            # somewhere in the middle of the hold (the k-th of n parts)
            lo = 1.5 + (hold - 3.0) * k / n
            at = lo + wr.uniform(0.0, max(0.0, (hold - 3.0) / n - 1.4))
            down = wr.uniform(0.3, 0.6)
            up = wr.uniform(0.4, 0.9)
            depth = max(4.0, wr.uniform(0.1, 0.3) * r["rom"])
            here = top - sag * (at / hold)
            b.move(max(0.05, t0 + at - b.t), theta=here)
            b.move(down, theta=here - depth)
            b.move(up, theta=here - sag * (down + up) / hold)
        b.move(max(0.05, t0 + hold - b.t), theta=top - sag)

    # -- sensor-leg rep ----------------------------------------------------
    def sensor_rep(self, r):
        b, s, rng, other = self.b, self.s, self.rng, self.spec["other"]
        c = b.cur
        th0, ph0, ps0, p0, R0 = c["theta"], c["phi"], c["psi"], c["p"].copy(), c["R"]
        top = th0 + r["rom"]
        p_top = None
        if self.ex == "lunge":
            fwd = R0 @ np.array([1.0, 0.0, 0.0])
            fwd[2] = 0.0
            fwd /= np.linalg.norm(fwd)
            p_top = p0 + fwd * rng.uniform(0.45, 0.7) + np.array([0, 0, -rng.uniform(0.28, 0.42)])
        t0 = b.t
        dur = r["rise"] + r["hold"] + r["lower"]
        b.move(r["rise"], theta=top, phi=ph0 + r["abd"], psi=ps0 + r["axial"], p=p_top)
        t_peak = b.t
        if r["hold"] > 0:
            self.hold_top(r, top)
            if r["hold"] > 0.4:
                b.holds.append((t_peak, b.t, self.tremor))
        t_low = b.t
        pr = self.prng
        if pr is not None and pr.random() < 0.35:
            # the lowering stops part way (30-60 % of the range up), the
            # hip still flexed, for 0.5-2 s, then goes on down
            f = pr.uniform(0.3, 0.6)
            lo = r["lower"] * (1.0 - f)
            b.move(lo, theta=th0 + f * r["rom"])
            b.hold(pr.uniform(0.5, 2.0))
            b.move(max(0.3, r["lower"] - lo), theta=th0, phi=ph0, psi=ps0,
                   p=p0 if p_top is not None else None)
        else:
            b.move(r["lower"], theta=th0, phi=ph0, psi=ps0, p=p0 if p_top is not None else None)
        t_end = b.t
        b.reps.append(dict(start=t0, peak=t_peak, end=t_end, hold=t_low - t_peak))
        # a sharp stop at the top shakes the soft tissue
        w_peak = 1.875 * math.radians(r["rom"]) / r["rise"]
        if w_peak > 3.0:
            b.wobbles.append((t_peak - 0.08 * r["rise"], 6e-5 * w_peak))
        if self.ex == "lunge":
            b.wobbles.append((t0 + 0.45 * r["rise"], rng.uniform(0.8, 1.5) * 1e-3))
        b.wobbles.append((t_end, self.spec["end_wobble"] * rng.uniform(0.6, 1.2)))
        # body reactions
        if other == "march":
            b.pulse_rot(t0, dur, [s, 0, 0], rng.uniform(1.5, 3.0))
            b.pulse_pos(t0, dur, [0, s, 0], rng.uniform(0.01, 0.025))
        elif other == "climber":
            # both legs move at once in antiphase: the trunk bobs twice per cycle
            half = 0.5 * dur
            b.pulse_pos(t0, half, [-1, 0, 0], rng.uniform(0.015, 0.04))
            b.pulse_pos(t0 + half, half, [-1, 0, 0], rng.uniform(0.015, 0.04))
            b.pulse_rot(t0, dur, [0, 0, s], rng.uniform(2.0, 4.0))
            b.pulse_rot(t0 + half, dur, [0, -1, 0], rng.uniform(1.0, 3.0))
            b.wobbles.append((t_peak, rng.uniform(0.4, 0.8) * 1e-3))  # other foot lands
        elif other == "bridge":
            b.pulse_rot(t0, dur, [0, 0, s], rng.uniform(2.0, 5.0))
            b.pulse_pos(t0, dur, [-1, 0, 0], -rng.uniform(0.005, 0.015))
        elif other == "supine":
            b.pulse_rot(t0, dur, [0, 0, s], rng.uniform(0.5, 1.5))
        elif other == "tuck":
            b.pulse_pos(t0, dur, [-1, 0, 0], rng.uniform(0.02, 0.05))
        if self.ex == "ball_pass":
            b.pulse_rot(t0, dur, [0, -1, 0], rng.uniform(4.0, 8.0))
        elif self.ex == "hanging_leg_raise":
            b.pulse_rot(t0, dur, [0, -1, 0], rng.uniform(3.0, 8.0))

    # -- other-leg rep: the sensor thigh stays down, the body moves ----------
    def other_rep(self, r):
        b, s, rng, other = self.b, self.s, self.rng, self.spec["other"]
        t0 = b.t
        dur = r["rise"] + r["hold"] + r["lower"]
        c = b.cur
        if other == "lunge":
            th0, p0 = c["theta"], c["p"].copy()
            fwd = c["R"] @ np.array([1.0, 0.0, 0.0])
            fwd[2] = 0.0
            fwd /= np.linalg.norm(fwd)
            p_b = p0 + fwd * rng.uniform(0.25, 0.4) + np.array([0, 0, -rng.uniform(0.3, 0.42)])
            b.move(r["rise"], theta=th0 - rng.uniform(8.0, 18.0), p=p_b)
            b.hold(r["hold"])
            b.move(r["lower"], theta=th0, p=p0)
            b.wobbles.append((t0 + 0.45 * r["rise"], 0.5e-3))
            return
        if other == "march":
            # marching legs overlap: the other knee starts up while this foot comes down
            ov = 0.25 * dur
            b.hold(dur - 2 * ov)
            t0 = t0 - ov
            b.pulse_rot(t0, dur, [-s, 0, 0], rng.uniform(1.5, 3.5))
            b.pulse_rot(t0, dur, [0, 0, s], rng.uniform(1.0, 3.0))
            b.pulse_pos(t0, dur, [0, -s, 0], rng.uniform(0.01, 0.03))
            b.wobbles.append((t0 + dur, 0.35e-3))
            return
        b.hold(dur)
        if other == "supine":
            b.pulse_rot(t0, dur, [0, 0, -s], rng.uniform(0.8, 2.0))
        elif other == "bridge":
            b.pulse_rot(t0, dur, [0, 0, -s], rng.uniform(3.0, 6.0))
            b.pulse_pos(t0, dur, [-1, 0, 0], -rng.uniform(0.005, 0.015))
        elif other == "climber":
            b.pulse_pos(t0, dur, [-1, 0, 0], rng.uniform(0.015, 0.04))
            b.pulse_rot(t0, dur, [0, 0, -s], rng.uniform(2.0, 5.0))
            b.pulse_rot(t0, dur, [0, -1, 0], rng.uniform(1.0, 3.0))
            b.wobbles.append((t0 + dur, 0.6e-3))
        elif other == "tuck":
            b.pulse_pos(t0, dur, [-1, 0, 0], rng.uniform(0.02, 0.05))
            b.pulse_rot(t0, dur, [0, 0, -s], rng.uniform(2.0, 4.0))

    def run(self, n_reps):
        """Lay out the whole set of ``n_reps`` sensor-leg reps (and the other leg's)."""
        b, o, rng = self.b, self.o, self.rng
        rest0 = b.cur["theta"]
        phi0 = b.cur["phi"]
        offset = side = 0.0
        if o["alternating"] and self.spec["other"] == "climber":
            order = ["S"] * n_reps   # the other leg overlaps, see sensor_rep
        elif o["alternating"]:
            order = ["S", "O"] * n_reps
            if rng.random() < 0.5:   # the other leg starts; maybe it also ends
                order = ["O", "S"] * n_reps + (["O"] if rng.random() < 0.5 else [])
        else:
            order = ["S"] * n_reps
        done = 0
        for k, who in enumerate(order):
            x = done / max(1, n_reps - 1)
            r = self.draw_rep(x, other=(who == "O"))
            if who == "O":
                self.other_rep(r)
                self.rest(r["rest"])
                continue
            self.sensor_rep(r)
            done += 1
            if k == len(order) - 1:
                break
            if o["rest_drift_deg"] > 0 and done < n_reps:
                d = o["rest_drift_deg"]
                offset = float(np.clip(0.5 * offset + rng.normal(0, d), -2 * d, 2 * d))
                if o["posture"] in SUPPORTED:
                    # lowered back onto the seat or the mat: along the lift
                    # the leg lands within SUPPORT_SLACK of where it lay; the
                    # drift goes sideways instead (the knee lands out or in)
                    side = float(np.clip(0.5 * side + rng.normal(0, d), -2 * d, 2 * d))
                    b.move(max(0.3, r["rest"]),
                           theta=rest0 + SUPPORT_SLACK * offset / (2 * d), phi=phi0 + side)
                else:
                    b.move(max(0.3, r["rest"]), theta=rest0 + offset)
            else:
                self.rest(r["rest"])

    def rest(self, dur):
        if dur > 0.02:
            self.b.hold(dur)


# -- non-rep movements ------------------------------------------------------

def fidget(b, rng):
    """A small quick movement (< 8 deg) that is not a rep."""
    c = b.cur
    kind = rng.integers(4)
    a = rng.uniform(2.0, 7.0) * (1 if rng.random() < 0.5 else -1)
    if kind == 0:
        b.move(rng.uniform(0.2, 0.45), theta=c["theta"] + a)
        b.move(rng.uniform(0.3, 0.6), theta=c["theta"])
    elif kind == 1:
        b.move(rng.uniform(0.25, 0.5), psi=c["psi"] + a)
        b.move(rng.uniform(0.3, 0.6), psi=c["psi"])
    elif kind == 2:
        b.move(rng.uniform(0.25, 0.5), phi=c["phi"] + a * 0.6)
        b.move(rng.uniform(0.3, 0.6), phi=c["phi"])
    else:
        b.move(rng.uniform(0.3, 0.7), theta=c["theta"] + a * 0.5)
    b.wobbles.append((b.t, rng.uniform(0.05, 0.2) * 1e-3))


def still(b, rng, dur, fidgets=True):
    """Still period of ``dur`` s with an occasional fidget."""
    if fidgets and dur > 2.5 and rng.random() < 0.6:
        k = rng.uniform(0.2, 0.7) * dur
        b.hold(k)
        fidget(b, rng)
        b.hold(max(0.05, dur - k - 0.8))
    else:
        b.hold(dur)


def reposition(b, rng):
    """End-of-set repositioning: shift on the mat, slide the leg, turn the foot."""
    c = b.cur
    choice = rng.permutation(3)[: int(rng.integers(1, 3))]
    for k in choice:
        if k == 0:   # slide the leg / shift stance: a few degrees and stays
            d = rng.uniform(4.0, 10.0) * (1 if rng.random() < 0.5 else -1)
            b.move(rng.uniform(0.8, 1.6), theta=b.cur["theta"] + d)
        elif k == 1:  # turn the foot out, maybe back
            d = rng.uniform(10.0, 25.0)
            b.move(rng.uniform(0.6, 1.2), psi=b.cur["psi"] + d)
            if rng.random() < 0.5:
                b.hold(rng.uniform(0.5, 2.0))
                b.move(rng.uniform(0.6, 1.2), psi=c["psi"])
        else:        # shift the body a few cm and turn a little
            from hipflex.sim import rotations as rot
            yaw = math.radians(rng.uniform(-8, 8))
            dp = rng.normal(0.0, 0.05, 3)
            dp[2] = 0.0
            b.move(rng.uniform(0.8, 1.5), R=rot.rot_z(yaw) @ b.cur["R"], p=b.cur["p"] + dp)
            b.wobbles.append((b.t, 0.3e-3))
        b.hold(rng.uniform(0.3, 1.0))
    b.notes.append((round(b.t, 3), "reposition"))


_STEP_DUR = {"chair_lean": (0.8, 1.3), "chair": (0.7, 1.2), "crouch": (1.0, 1.8),
             "floor_seated": (1.0, 1.6), "supine_bent": (1.5, 2.5), "supine_flat": (0.8, 1.5),
             "bridge": (1.2, 2.0), "side_lying": (1.5, 2.5), "quadruped": (0.8, 1.4),
             "plank": (1.0, 1.6), "kneeling": (0.8, 1.4), "standing": (1.0, 1.8),
             "hanging": (0.4, 0.6)}
_IMPACT = {"chair": 1.0e-3, "floor_seated": 0.8e-3, "supine_bent": 0.3e-3,
           "quadruped": 0.6e-3, "plank": 0.4e-3, "standing": 0.4e-3, "kneeling": 0.6e-3}


def go(b, rng, target):
    """Move through the intermediate poses from the current pose to ``target``."""
    here, there = PATHS.get(b.pose, []), PATHS[target]
    k = 0
    while k < min(len(here), len(there)) and here[k] == there[k]:
        k += 1
    if k > 0:
        steps = list(reversed(here[k - 1:-1])) + there[k:]
    else:
        steps = list(reversed(here[:-1])) + ["standing"] + there
    for name in steps:
        if name == b.pose:
            continue
        if name == "hanging":
            hang_on(b, rng)
            continue
        if b.pose == "hanging":
            hang_off(b, rng)
            if name == "standing":
                continue
        b.goto_pose(name, rng.uniform(*_STEP_DUR[name]), impact=_IMPACT.get(name, 0.0))
        b.hold(rng.uniform(0.2, 0.8))


def hang_on(b, rng):
    """Reach up and jump to hang from the bar: quick upward move, then a swing."""
    b.hold(rng.uniform(0.3, 0.8))
    b.goto_pose("hanging", rng.uniform(*_STEP_DUR["hanging"]))
    b.hangs.append([b.t, None, rng.uniform(2.0, 8.0), rng.uniform(0.08, 0.18)])


def hang_off(b, rng):
    """Let go of the bar and land standing."""
    if b.hangs and b.hangs[-1][1] is None:
        b.hangs[-1][1] = b.t
    b.goto_pose("standing", rng.uniform(0.35, 0.5))
    b.wobbles.append((b.t, rng.uniform(1.5, 2.5) * 1e-3))
    b.hold(rng.uniform(0.3, 0.8))


def exercise_session(exercise, n_reps, o, rng, fs, duration=None):
    """Builder with a full session: still start, getting into position, the set,
    repositioning, getting up, maybe walking away."""
    posture = o["posture"]
    jit = {name: float(rng.normal(0, 2.0 if name == "standing" else 4.0)) for name in POSES}
    jit["hanging"] = float(rng.uniform(-2, 4))
    b = Builder(fs, rng, o["leg"], pose="standing" if o["session"] else posture,
                heading=rng.uniform(-math.pi, math.pi), pose_jitter=jit)
    if not o["session"] and posture == "hanging":
        b.hangs.append([0.0, None, rng.uniform(2.0, 8.0), rng.uniform(0.08, 0.18)])
    b.hold(o["still_start_s"])
    walk_in = o["session"] and rng.random() < 0.3
    if walk_in:
        b.walk(rng.uniform(4.0, 9.0), speed=rng.uniform(0.9, 1.4), stride_hz=rng.uniform(0.85, 1.0),
               turns=[(rng.uniform(1.0, 2.0), rng.uniform(1.5, 2.5), rng.uniform(-150, 150))])
        b.hold(rng.uniform(0.8, 2.0))
    if o["session"]:
        go(b, rng, posture)
        still(b, rng, rng.uniform(1.5, 4.0), o["fidgets"])
    Plan(exercise, b, o, rng).run(n_reps)
    b.hold(rng.uniform(0.4, 1.2))
    if o["reposition"]:
        reposition(b, rng)
    still(b, rng, rng.uniform(1.0, 3.5), o["fidgets"])
    if o["session"]:
        go(b, rng, "standing")
        if rng.random() < 0.3:
            b.walk(rng.uniform(3.0, 8.0), speed=rng.uniform(0.9, 1.4),
                   stride_hz=rng.uniform(0.85, 1.0))
    b.hold(rng.uniform(1.0, 2.0))
    if duration is not None and b.t < duration:
        still(b, rng, duration - b.t, o["fidgets"])
    return b


def walking_session(o, rng, fs, duration=None):
    """Walking with turns and standing pauses (no reps)."""
    target = duration if duration is not None else float(rng.uniform(40.0, 90.0))
    b = Builder(fs, rng, o["leg"], heading=rng.uniform(-math.pi, math.pi),
                pose_jitter={"standing": float(rng.normal(0, 2.0))})
    b.hold(o["still_start_s"])
    while b.t < target - 8.0:
        dur = min(rng.uniform(6.0, 20.0), max(4.0, target - b.t - 3.0))
        turns = []
        if dur > 6 and rng.random() < 0.7:
            turns.append((rng.uniform(1.5, dur - 4.0), rng.uniform(1.2, 2.5),
                          rng.choice([-1, 1]) * rng.uniform(60, 180)))
        b.walk(dur, speed=rng.uniform(0.9, 1.5), stride_hz=rng.uniform(0.8, 1.05), turns=turns)
        still(b, rng, rng.uniform(2.0, 8.0), o["fidgets"])
    if b.t < target:
        still(b, rng, target - b.t, o["fidgets"])
    return b


_GRAPH = {
    "standing": ("chair", "chair", "floor_seated", "supine_bent", "kneeling", "supine_flat"),
    "chair": ("standing",),
    "floor_seated": ("standing", "supine_bent", "side_lying"),
    "supine_bent": ("floor_seated", "supine_flat", "standing"),
    "supine_flat": ("supine_bent", "floor_seated"),
    "side_lying": ("floor_seated",),
    "kneeling": ("standing", "standing", "quadruped"),
    "quadruped": ("kneeling",),
}


def transitions_session(o, rng, fs, duration=None):
    """Sit down / stand up, lie down / get up, with dwell times of 5-60 s (no reps)."""
    target = duration if duration is not None else float(rng.uniform(60.0, 150.0))
    jit = {name: float(rng.normal(0, 2.0 if name == "standing" else 4.0)) for name in POSES}
    b = Builder(fs, rng, o["leg"], heading=rng.uniform(-math.pi, math.pi), pose_jitter=jit)
    b.hold(o["still_start_s"])
    while True:
        nxt = _GRAPH[b.pose][int(rng.integers(len(_GRAPH[b.pose])))]
        go(b, rng, nxt)
        dwell = float(np.exp(rng.uniform(math.log(5.0), math.log(60.0))))
        left = target - b.t
        if left < 8.0:
            break
        still(b, rng, min(dwell, left - 3.0) if left > 10 else dwell, o["fidgets"])
        if b.t > target - 6.0:
            break
    if b.t < target:
        still(b, rng, target - b.t, o["fidgets"])
    return b
