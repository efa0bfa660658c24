"""Session builder: whole-body pose, hip angles and timed events on a fine grid.

World frame: x, y horizontal, z up [m]. Pelvis frame: x anterior, y left,
z superior. At hip angles (0, 0, 0) the thigh frame equals the pelvis frame
and the thigh points along -z (hip to knee). The sensor-leg hip angles are

* ``theta`` flexion [deg], rotation about -y (knee moves anterior),
* ``phi`` abduction [deg], knee moves lateral,
* ``psi`` external axial rotation [deg] about the thigh axis,

composed as ``R_hip = Flex(theta) @ Abd(phi) @ Axial(psi)``. The builder
appends pieces sample by sample so a session is a sequence of still periods,
smooth (minimum-jerk) moves, gait and reps; events (reps, holds, soft-tissue
impacts, body-motion pulses) are recorded with absolute times [s].
"""

import math

import numpy as np

from hipflex.sim import rotations as rot


def minjerk(u):
    """Minimum-jerk position profile on [0, 1] (zero velocity and acceleration at both ends)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


def _deg(x):
    return math.radians(x)


# Pelvis orientation (before heading), sensor-leg flexion [deg], hip position
# (forward offset, height) [m] relative to the person's floor anchor, and
# postural sway level [deg rms].
POSES = {
    "standing": dict(R=np.eye(3), theta=0.0, dx=0.0, z=0.92, sway=0.5),
    "chair_lean": dict(R=rot.rot_y(_deg(25)), theta=75.0, dx=-0.10, z=0.62, sway=0.6),
    "chair": dict(R=rot.rot_y(_deg(-6)), theta=84.0, dx=-0.18, z=0.48, sway=0.2),
    "crouch": dict(R=rot.rot_y(_deg(30)), theta=105.0, dx=0.02, z=0.45, sway=0.6),
    "floor_seated": dict(R=rot.rot_y(_deg(-5)), theta=85.0, dx=-0.35, z=0.11, sway=0.3),
    "kneeling": dict(R=np.eye(3), theta=5.0, dx=0.0, z=0.50, sway=0.4),
    "quadruped": dict(R=rot.rot_y(_deg(90)), theta=90.0, dx=0.0, z=0.52, sway=0.3),
    "plank": dict(R=rot.rot_y(_deg(75)), theta=0.0, dx=0.15, z=0.42, sway=0.5),
    "supine_bent": dict(R=rot.rot_y(_deg(-90)), theta=45.0, dx=-0.45, z=0.10, sway=0.08),
    "supine_flat": dict(R=rot.rot_y(_deg(-90)), theta=0.0, dx=-0.45, z=0.10, sway=0.08),
    "bridge": dict(R=rot.rot_y(_deg(-115)), theta=-10.0, dx=-0.45, z=0.33, sway=0.4),
    "side_lying": dict(R=None, theta=20.0, dx=-0.40, z=0.16, sway=0.15),
    "hanging": dict(R=np.eye(3), theta=4.0, dx=0.0, z=1.05, sway=0.2),
}

# How to get from standing to each exercise posture (intermediate poses).
PATHS = {
    "standing": [],
    "chair": ["chair_lean", "chair"],
    "floor_seated": ["crouch", "floor_seated"],
    "supine_bent": ["crouch", "floor_seated", "supine_bent"],
    "supine_flat": ["crouch", "floor_seated", "supine_bent", "supine_flat"],
    "bridge": ["crouch", "floor_seated", "supine_bent", "bridge"],
    "side_lying": ["crouch", "floor_seated", "side_lying"],
    "quadruped": ["crouch", "quadruped"],
    "plank": ["crouch", "quadruped", "plank"],
    "kneeling": ["crouch", "kneeling"],
    "hanging": ["hanging"],
}


def side_lying_R(leg):
    """Pelvis orientation lying on the side opposite ``leg`` (the sensor leg on top).

    The pelvis lateral axis is vertical, so hip flexion turns the thigh in a
    horizontal plane.
    """
    if leg == "right":   # lying on the left side: pelvis y (left) points down
        cols = [(0, 1, 0), (0, 0, -1), (-1, 0, 0)]
    else:                # lying on the right side: pelvis y points up
        cols = [(0, 1, 0), (0, 0, 1), (1, 0, 0)]
    return np.array(cols, dtype=float).T


def hip_rotation(theta_deg, phi_deg, psi_deg, leg):
    """Stack of hip rotations (pelvis -> thigh) for angle arrays [deg]."""
    s = 1.0 if leg == "right" else -1.0
    th = np.radians(theta_deg)
    ph = np.radians(phi_deg)
    ps = np.radians(psi_deg)
    F = rot.axis_angle([0.0, -1.0, 0.0], th)
    A = rot.axis_angle([-s, 0.0, 0.0], ph)
    X = rot.axis_angle([0.0, 0.0, -s], ps)
    return F @ A @ X


def gait_flexion(phase):
    """Hip flexion [deg] over the gait cycle (``phase`` in cycles, heel strike at 0).

    This is the thigh *segment* against the vertical (what a thigh sensor
    sees: hip flexion minus the pelvis' forward tilt): peak flexion +24 deg
    late in swing (0.88), peak extension -18 deg at push-off (0.53); the
    swing-phase flexion is faster than the stance-phase extension.
    """
    u = np.mod(phase, 1.0)
    mid, amp = 3.0, 21.0
    up = (u >= 0.53) & (u < 0.88)
    v = np.mod(u - 0.88, 1.0)
    return np.where(up, mid - amp * np.cos(np.pi * (u - 0.53) / 0.35),
                    mid + amp * np.cos(np.pi * np.minimum(v, 0.65) / 0.65))


class Builder:
    """Append-only session timeline sampled at ``fs`` Hz.

    State: hip angles [deg], pelvis orientation (world), hip position [m],
    heading [rad] and floor anchor [m]. Every piece appends samples for
    ``(k+1)/fs`` after the current time, so targets are reached exactly.
    """

    def __init__(self, fs, rng, leg, pose="standing", heading=0.0, pose_jitter=None):
        self.fs = float(fs)
        self.rng = rng
        self.leg = leg
        self.heading = float(heading)
        self.anchor = np.zeros(3)
        self.pose_jitter = dict(pose_jitter or {})
        self.pose = pose
        P = self.pose_state(pose)
        self.cur = dict(theta=P["theta"], phi=0.0, psi=0.0, R=P["R"], p=P["p"])
        self.sway_level = POSES[pose]["sway"]
        self._th = [np.array([self.cur["theta"]])]
        self._ph = [np.array([0.0])]
        self._ps = [np.array([0.0])]
        self._R = [P["R"][None]]
        self._p = [P["p"][None]]
        self._lv = [np.array([self.sway_level])]
        self.n = 1
        self.reps = []          # dicts: start, peak, end, hold [s]
        self.holds = []         # (t0, t1, tremor rms [deg])
        self.wobbles = []       # (t, displacement amplitude [m])
        self.rot_pulses = []    # (t0, dur, axis in pelvis frame, amplitude [deg])
        self.pos_pulses = []    # (t0, dur, direction in pelvis frame, amplitude [m])
        self.hangs = []         # (t0, t1, initial swing [deg], coupling)
        self.notes = []         # (t, text) what happened, for params/debugging

    # -- time and state -------------------------------------------------
    @property
    def t(self):
        """Current time [s]."""
        return (self.n - 1) / self.fs

    def pose_state(self, name):
        P = POSES[name]
        R0 = side_lying_R(self.leg) if name == "side_lying" else P["R"]
        Rh = rot.rot_z(self.heading)
        theta = P["theta"] + self.pose_jitter.get(name, 0.0)
        p = self.anchor + Rh @ np.array([P["dx"], 0.0, P["z"]])
        return dict(R=Rh @ R0, theta=theta, p=p)

    def _append(self, th, ph, ps, R, p, level=None):
        m = len(th)
        if m == 0:
            return
        self._th.append(th)
        self._ph.append(ph)
        self._ps.append(ps)
        self._R.append(R)
        self._p.append(p)
        lv = self.sway_level if level is None else level
        self._lv.append(np.full(m, lv))
        self.n += m
        self.cur = dict(theta=float(th[-1]), phi=float(ph[-1]), psi=float(ps[-1]),
                        R=R[-1].copy(), p=p[-1].copy())

    def nsamp(self, dur):
        return max(1, int(round(dur * self.fs)))

    # -- pieces ----------------------------------------------------------
    def hold(self, dur):
        """Stay still for ``dur`` seconds (body motion is added later)."""
        m = self.nsamp(dur)
        c = self.cur
        self._append(np.full(m, c["theta"]), np.full(m, c["phi"]), np.full(m, c["psi"]),
                     np.broadcast_to(c["R"], (m, 3, 3)).copy(),
                     np.broadcast_to(c["p"], (m, 3)).copy())

    def move(self, dur, theta=None, phi=None, psi=None, R=None, p=None, shape=None):
        """Minimum-jerk move of the given quantities to their targets in ``dur`` s."""
        m = self.nsamp(dur)
        u = np.arange(1, m + 1) / m
        s = minjerk(u) if shape is None else shape(u)
        c = self.cur

        def lerp(a, b):
            return a + (b - a) * s

        th = lerp(c["theta"], c["theta"] if theta is None else theta)
        ph = lerp(c["phi"], c["phi"] if phi is None else phi)
        ps = lerp(c["psi"], c["psi"] if psi is None else psi)
        if R is None:
            Rs = np.broadcast_to(c["R"], (m, 3, 3)).copy()
        else:
            Rs = rot.geodesic(c["R"], R, s)
        if p is None:
            Ps = np.broadcast_to(c["p"], (m, 3)).copy()
        else:
            Ps = c["p"] + (np.asarray(p) - c["p"]) * s[:, None]
        self._append(th, ph, ps, Rs, Ps)
        return m / self.fs

    def goto_pose(self, name, dur, impact=0.0):
        """Posture transition to pose ``name`` in ``dur`` s (hip angles, pelvis, hip position)."""
        P = self.pose_state(name)
        self.notes.append((round(self.t, 3), "pose %s" % name))
        self.sway_level = POSES[name]["sway"]
        self.move(dur, theta=P["theta"], phi=0.0, psi=0.0, R=P["R"], p=P["p"])
        self.pose = name
        if impact > 0:
            self.wobbles.append((self.t - 0.1 * dur, impact))

    def set_pose_angle(self, theta):
        """Remember the current flexion as this pose's rest angle (after repositioning)."""
        P = POSES[self.pose]
        self.pose_jitter[self.pose] = theta - P["theta"]

    def walk(self, dur, speed=1.2, stride_hz=0.9, turns=(), impact=1.0):
        """Walk for ``dur`` s: thigh swinging about +24/-18 deg at ``stride_hz``,
        pelvis rotation and obliquity, vertical bob, heel strikes and turns.

        ``turns``: sequence of (start time within the walk [s], duration [s],
        heading change [deg]).
        """
        m = self.nsamp(dur)
        tau = np.arange(1, m + 1) / self.fs
        ramp = min(1.0, dur / 3.0)
        env = minjerk(tau / ramp) * minjerk((dur - tau) / ramp)
        ph0 = self.rng.uniform(0, 1)
        phase = ph0 + stride_hz * tau
        w = 2 * np.pi * phase
        gait = gait_flexion(phase)
        c = self.cur
        # the envelope fades the gait in and out around the standing pose, so
        # the thigh swings about +24/-18 deg whatever phase the walk starts at
        th = c["theta"] + env * gait
        ph = c["phi"] + env * 2.5 * np.sin(w - 0.6)
        ps = c["psi"] + env * 4.0 * np.sin(w + 0.4)
        head = np.zeros(m)
        for (ts, td, dh) in turns:
            head += math.radians(dh) * minjerk((tau - ts) / td)
        Rturn = rot.rot_z(head)
        s = 1.0 if self.leg == "right" else -1.0
        osc = np.stack([env * math.radians(4.0) * np.sin(w) * s,
                        env * math.radians(2.0) * np.sin(2 * w),
                        env * math.radians(5.0) * np.cos(w) * s], -1)
        R = Rturn @ c["R"] @ rot.exp_map(osc)
        hv = self.heading + head
        v = speed * env
        fwd = np.stack([np.cos(hv), np.sin(hv), np.zeros(m)], -1)
        lat = np.stack([-np.sin(hv), np.cos(hv), np.zeros(m)], -1)
        disp = np.cumsum(v[:, None] * fwd, axis=0) / self.fs
        bob = env * 0.018 * np.cos(2 * w)
        sway = env * 0.02 * np.sin(w) * s
        P = c["p"] + disp + lat * sway[:, None]
        P[:, 2] += bob
        self._append(th, ph, ps, R, P, level=0.3)
        # heel strikes: sensor leg near phase 0, other leg near 0.5
        t0 = self.t - dur
        k0 = math.ceil(phase[0])
        for k in range(k0, int(phase[-1]) + 1):
            for off, a in ((0.0, 1.0), (0.5, 0.35)):
                i = int((k + off - ph0) / stride_hz * self.fs)
                if 0 <= i < m and env[i] > 0.3:
                    self.wobbles.append((t0 + i / self.fs, impact * env[i] * a * 1.0e-3))
        self.heading = float(hv[-1])
        d = P[-1] - P[0]
        self.anchor = self.anchor + np.array([d[0], d[1], 0.0])
        self.notes.append((round(t0, 3), "walk %.1fs" % dur))

    # -- events ----------------------------------------------------------
    def pulse_rot(self, t0, dur, axis, amp_deg):
        self.rot_pulses.append((t0, dur, np.asarray(axis, float), amp_deg))

    def pulse_pos(self, t0, dur, direction, amp_m):
        self.pos_pulses.append((t0, dur, np.asarray(direction, float), amp_m))

    def truncate(self, t_end):
        """Drop everything after ``t_end`` seconds (sessions without reps only)."""
        keep = int(round(t_end * self.fs)) + 1
        if keep >= self.n:
            return
        parts = [np.concatenate(x)[:keep] for x in (self._th, self._ph, self._ps, self._R,
                                                     self._p, self._lv)]
        self._th, self._ph, self._ps, self._R, self._p, self._lv = ([x] for x in parts)
        self.n = keep

    # -- output ----------------------------------------------------------
    def arrays(self):
        """Return (t, theta, phi, psi [deg], R_pelvis (N,3,3), p_hip (N,3), sway level)."""
        th = np.concatenate(self._th)
        t = np.arange(len(th)) / self.fs
        return (t, th, np.concatenate(self._ph), np.concatenate(self._ps),
                np.concatenate(self._R), np.concatenate(self._p), np.concatenate(self._lv))
