"""Rotation helpers. Angles in radians unless a name says ``_deg``.

Matrices act on column vectors; stacks have shape (N, 3, 3).
"""

import numpy as np


def skew(v):
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    v = np.asarray(v, dtype=float)
    z = np.zeros(v.shape[:-1])
    x, y, w = v[..., 0], v[..., 1], v[..., 2]
    return np.stack([np.stack([z, -w, y], -1),
                     np.stack([w, z, -x], -1),
                     np.stack([-y, x, z], -1)], -2)


def exp_map(rv):
    """Rotation vectors (..., 3) [rad] -> rotation matrices (..., 3, 3) (Rodrigues)."""
    rv = np.asarray(rv, dtype=float)
    th = np.linalg.norm(rv, axis=-1)[..., None, None]
    K = skew(rv)
    small = th < 1e-8
    ths = np.where(small, 1.0, th)
    a = np.where(small, 1.0 - th ** 2 / 6.0, np.sin(ths) / ths)
    b = np.where(small, 0.5 - th ** 2 / 24.0, (1.0 - np.cos(ths)) / ths ** 2)
    eye = np.broadcast_to(np.eye(3), K.shape)
    return eye + a * K + b * (K @ K)


def log_map(R):
    """Rotation matrices (..., 3, 3) -> rotation vectors (..., 3) [rad]."""
    R = np.asarray(R, dtype=float)
    tr = np.trace(R, axis1=-2, axis2=-1)
    c = np.clip((tr - 1.0) / 2.0, -1.0, 1.0)
    th = np.arccos(c)
    w = np.stack([R[..., 2, 1] - R[..., 1, 2],
                  R[..., 0, 2] - R[..., 2, 0],
                  R[..., 1, 0] - R[..., 0, 1]], -1)
    s = np.sin(th)
    small = s < 1e-6
    fac = np.where(small, 0.5, th / (2.0 * np.where(small, 1.0, s)))
    rv = w * fac[..., None]
    # near pi: use the symmetric part
    near_pi = (th > np.pi - 1e-3)
    if np.any(near_pi):
        idx = np.nonzero(near_pi)
        for k in zip(*idx) if R.ndim > 2 else [()]:
            M = R[k]
            B = (M + np.eye(3)) / 2.0
            j = int(np.argmax(np.diag(B)))
            axis = B[:, j] / np.sqrt(max(B[j, j], 1e-12))
            rv[k] = axis * th[k]
    return rv


def axis_angle(axis, angle):
    """Rotation about ``axis`` (3,) by ``angle`` (scalar or (N,)) [rad]."""
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis)
    angle = np.asarray(angle, dtype=float)
    return exp_map(angle[..., None] * axis)


def rot_x(a):
    return axis_angle([1.0, 0.0, 0.0], a)


def rot_y(a):
    return axis_angle([0.0, 1.0, 0.0], a)


def rot_z(a):
    return axis_angle([0.0, 0.0, 1.0], a)


def geodesic(Ra, Rb, s):
    """Interpolate from ``Ra`` to ``Rb`` along the shortest rotation; ``s`` (N,) in [0, 1]."""
    rv = log_map(Ra.T @ Rb)
    return Ra @ exp_map(np.asarray(s, dtype=float)[:, None] * rv)


def body_rate(R, fs):
    """Body-frame angular velocity [rad/s] of a stack of rotations sampled at ``fs`` Hz.

    Uses the skew part of ``R_k^T (R_{k+1} - R_{k-1}) / (2 dt)`` (second order).
    """
    dR = np.empty_like(R)
    dR[1:-1] = (R[2:] - R[:-2]) * (fs / 2.0)
    dR[0] = (R[1] - R[0]) * fs
    dR[-1] = (R[-1] - R[-2]) * fs
    W = np.swapaxes(R, -1, -2) @ dR
    return 0.5 * np.stack([W[:, 2, 1] - W[:, 1, 2],
                           W[:, 0, 2] - W[:, 2, 0],
                           W[:, 1, 0] - W[:, 0, 1]], -1)


def angle_between(u, v):
    """Angle [rad] between vectors (..., 3)."""
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    cr = np.linalg.norm(np.cross(u, v), axis=-1)
    dt = np.sum(u * v, axis=-1)
    return np.arctan2(cr, dt)
