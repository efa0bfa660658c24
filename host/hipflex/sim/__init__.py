"""Physically based thigh-IMU simulator internals.

``rotations``  small SO(3) helpers on stacks of matrices
``motion``     session builder: postures, transitions, reps, body motion
``exercises``  per-exercise rep plans and distractor sessions
``kinematics`` rigid thigh + soft tissue -> ideal specific force and rate
``sensor``     LSM6DS-style sampling, errors, quantisation and timing

The public entry points live in :mod:`hipflex.simulate`.
"""
