"""Host-side emulation of the board: LSM6DS register model, I2C bus, clock,
links, and a synthetic thigh-motion generator.

Importing this package appends firmware/ (for ``hipflex_app`` and
``selftest``) to sys.path -- at the end, so the board's ``code.py`` never
shadows the standard library's ``code`` module -- and host/ when the hipflex
package is not installed.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE_DIR = os.path.join(_ROOT, "firmware")
HOST_DIR = os.path.join(_ROOT, "host")
ROOT_DIR = _ROOT

if FIRMWARE_DIR not in sys.path:
    sys.path.append(FIRMWARE_DIR)
try:
    import hipflex  # noqa: F401
except ImportError:
    sys.path.insert(0, HOST_DIR)
