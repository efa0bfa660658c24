"""Exercise catalogue: each profile is a small dict of detector parameters.

MicroPython-safe (copied to the board). Every parameter is an integer with its
unit in the name, so a profile fits CircuitPython's ``settings.toml`` (strings
and integers only) and the protocol's ``SET key value`` command unchanged.

Parameters
----------
min_rom_deg     smallest rise (deg) that counts as a rep
entry_deg       rise (deg) above the baseline that opens a candidate rep
exit_pct        a rep closes when the excursion falls below this % of its rise
rel_pct         a rep must reach this % of the set's typical range of motion
                (median of recent excursions): small fidgets inside a set of
                big reps are not reps, nor is the first move of getting up
                after a set lying down (typically half a rep's range); a
                tiring leg's reps stay well above it
min_rep_ms      shortest rep (ms), start to end
max_hold_ms     stillness away from rest longer than this is a posture change,
                not a hold
still_dps       angular speed (deg/s) below which the thigh counts as still
hold_dps        turning rate (deg/s, over 0.3 s) below which the thigh holds
hold_pct        a hold stays above this % of the rep's rise
swing_pct       walking swings the thigh back past the rest pose by at least
                this % of the forward swing (forward, back, forward: strides)
target_hold_ms  hold time the exercise asks for (feedback only; 0 = none)
gain_mhz        attitude filter accelerometer gain, in 1/1000 s^-1
yaw_reps        1: a turn about the vertical alone can be a rep (lying on the
                side the hip flexes in a horizontal plane); 0: the exercise's
                reps tilt the thigh against gravity, so such a turn (a knee
                sliding out on a seat or a mat, the gyro's heading drift)
                never is one
"""

DEFAULTS = {
    "min_rom_deg": 14,
    "entry_deg": 7,
    "exit_pct": 50,
    "rel_pct": 60,
    "min_rep_ms": 300,
    "max_hold_ms": 60000,
    "still_dps": 4,
    "hold_dps": 3,
    "hold_pct": 75,
    "swing_pct": 25,
    "target_hold_ms": 0,
    "gain_mhz": 3000,
    "yaw_reps": 1,
}

# Only what differs from DEFAULTS. Typical ranges in the comments. Exercises
# a weak or rehabilitating leg may do slowly over a small range (15-25 deg:
# marches, knee holds, leg raises, ball passes, knee tucks) keep the default
# min_rom_deg and entry_deg (the rest creeps 2-3 deg after a slow lift before
# it opens an excursion; a 10 deg entry misses slow lifts under about 18 deg);
# only those whose body motion alone swings the thigh far (hanging, lunging,
# climbing, the boat pose) set a higher floor. Those done with the thigh
# lying near horizontal on a seat, the floor or a mat (seated, lying, bridge,
# boat pose) lift it against gravity, and a turn about the vertical there is
# the knee sliding sideways, as big as a small lift: yaw_reps 0. (Standing,
# hanging or in a plank, the heading of a near-vertical thigh is its axial
# rotation, which the excursion rarely lets dominate: left at 1.)
_OVERRIDES = {
    "auto": {},
    # alternate knee drives standing, 60-90 deg, ~1 rep/s per leg
    "standing_march": {},
    # knee raised to ~90 deg and held 5-10 s
    "standing_knee_hold": {"target_hold_ms": 5000},
    # lying on the back, knees bent, foot lifted: 30-50 deg
    "supine_march": {"min_rom_deg": 15, "yaw_reps": 0},
    # marching in a glute bridge: 30-60 deg, pelvis rocks
    "bridge_march": {"min_rom_deg": 15, "yaw_reps": 0},
    # seated, straight leg lifted a few inches: 5-10 deg, 2-3 s holds
    "seated_leg_lift": {"min_rom_deg": 3, "entry_deg": 2, "still_dps": 2,
                        "target_hold_ms": 2000, "yaw_reps": 0},
    # hanging from a bar, legs raised 70-110 deg; the body swings
    "hanging_leg_raise": {"min_rom_deg": 30, "entry_deg": 12},
    # lying flat, straight legs raised 60-90 deg
    "lying_leg_raise": {"yaw_reps": 0},
    # boat pose: legs lifted 40-70 deg and held 20-40 s
    "v_sit_hold": {"min_rom_deg": 20, "entry_deg": 10, "max_hold_ms": 90000,
                   "target_hold_ms": 20000, "yaw_reps": 0},
    # lying, ball passed between hands and feet: legs to ~90 deg
    "ball_pass": {"yaw_reps": 0},
    # plank, fast alternate knee drives 60-100 deg
    "mountain_climber": {"min_rom_deg": 25, "entry_deg": 12, "min_rep_ms": 200},
    # plank, slow knee tuck toward the chest, 60-90 deg
    "front_support_hip_flexion": {},
    # forward lunge, front thigh 60-90 deg
    "lunge": {"min_rom_deg": 25, "entry_deg": 10, "min_rep_ms": 500},
    # lying on the side, hip flexed in the horizontal plane and held 5-10 s;
    # a weak leg's slow 15-18 deg swing reads 13-15 (the rest creeps after
    # its slow start, and yaw - tilt/2 gives up a little to any lift)
    "side_lying_hold": {"min_rom_deg": 10, "target_hold_ms": 5000},
}

# Explicit order (MicroPython dicts do not keep insertion order): the board's
# long press cycles through the exercises in this order.
NAMES = ("auto", "standing_march", "standing_knee_hold", "supine_march", "bridge_march",
         "seated_leg_lift", "hanging_leg_raise", "lying_leg_raise", "v_sit_hold",
         "ball_pass", "mountain_climber", "front_support_hip_flexion", "lunge",
         "side_lying_hold")


def get(name="auto", overrides=None):
    """Return a fresh parameter dict for profile ``name``.

    ``overrides`` (dict) replaces individual parameters; unknown keys raise
    ``KeyError`` so a typo in a settings file is caught, not ignored.
    """
    if name not in _OVERRIDES:
        raise KeyError("unknown exercise %r" % (name,))
    p = dict(DEFAULTS)
    p.update(_OVERRIDES[name])
    if overrides:
        for k in overrides:
            if k not in DEFAULTS:
                raise KeyError("unknown parameter %r" % (k,))
            p[k] = int(overrides[k])
    return p
