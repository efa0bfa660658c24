"""The recording reader and ``hipflex analyze`` / ``plot`` from the command
line: JSON output, readable output, and one-line errors with exit status 2."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hipflex import recording
from hipflex.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "recordings", "demo_standing_march.csv")


def _write(tmp_path, text, name="r.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


GOOD = "t,ax,ay,az,gx,gy,gz\n0.00,0,0,9.81,0,0,0\n0.01,0,0,9.81,0,0,0\n"


@pytest.mark.parametrize("text,needle,line", [
    ("", "empty file", 1),
    ("time,ax,ay,az,gx,gy,gz\n0,0,0,9.8,0,0,0\n", "header", 1),
    ("t,ax,ay,az,gx,gy,gz\n0,0,0,9.8,0,0,0\n0.01,0,x,9.8,0,0,0\n", "non-numeric", 3),
    ("t,ax,ay,az,gx,gy,gz\n0,0,0,9.8,0,0,0\n0.01,0,nan,9.8,0,0,0\n", "non-finite", 3),
    ("t,ax,ay,az,gx,gy,gz\n0,0,0,9.8,0,0,0\n0.01,0,inf,9.8,0,0,0\n", "non-finite", 3),
    ("t,ax,ay,az,gx,gy,gz\n0.02,0,0,9.8,0,0,0\n0.01,0,0,9.8,0,0,0\n", "does not increase", 3),
    ("t,ax,ay,az,gx,gy,gz\n0,0,0,9.8,0,0\n", "7 columns", 2),
    ("t,ax,ay,az,gx,gy,gz\n", "no samples", 2),
])
def test_bad_recordings_give_one_line_errors_naming_file_and_line(tmp_path, capsys, text, needle, line):
    p = _write(tmp_path, text)
    rc = main(["analyze", p])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert needle in err and ("%s:%d" % (p, line)) in err


def test_acceleration_in_g_is_refused_with_a_hint_and_converted_on_request(tmp_path, capsys):
    t = np.arange(0, 5, 0.01)
    acc = np.tile([0.0, 0.0, 1.0], (len(t), 1))
    p = str(tmp_path / "g.csv")
    recording.write(p, t, acc, np.zeros((len(t), 3)))
    assert main(["analyze", p]) == 2
    err = capsys.readouterr().err
    assert "looks like g" in err and "--units g" in err
    assert main(["analyze", p, "--units", "g", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0


def test_missing_file_and_unknown_exercise(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    p = _write(tmp_path, GOOD)
    assert main(["analyze", p, "--exercise", "yoga"]) == 2
    err = capsys.readouterr().err
    assert "unknown exercise" in err and "standing_march" in err


def test_analyze_json_on_the_demo_matches_its_labels(capsys):
    assert main(["analyze", DEMO, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    lab = json.load(open(recording.labels_path(DEMO)))
    assert out["count"] == len(lab["reps"]) == len(out["reps"])
    for r, l in zip(out["reps"], lab["reps"]):
        assert set(r) >= {"start", "peak", "end", "rom_deg", "hold_s"}
        assert l["start"] - 0.5 <= r["peak"] <= l["end"] + 0.2
        assert abs(r["rom_deg"] - l["rom_deg"]) < 12


def test_analyze_table_and_summary(capsys):
    assert main(["analyze", DEMO]) == 0
    out = capsys.readouterr().out
    assert "ROM" in out and "reps, mean ROM" in out and "labelled: 10" in out


def test_console_script_runs_as_a_process(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hipflex", "analyze", str(tmp_path / "x.csv")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.startswith("hipflex: error:")


def test_plot_writes_a_png(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["plot", DEMO, "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10000


def test_reader_roundtrip_and_count_only_labels(tmp_path):
    t = np.arange(0, 2, 0.02)
    acc = np.tile([0.1, 0.2, 9.8], (len(t), 1))
    gyr = np.tile([0.01, -0.02, 0.03], (len(t), 1))
    p = str(tmp_path / "x.csv")
    recording.write(p, t, acc, gyr, labels={"exercise": "auto", "count": 7, "reps": []})
    rec = recording.read(p)
    assert np.allclose(rec.t, t) and np.allclose(rec.acc, acc) and np.allclose(rec.gyr, gyr)
    assert rec.labelled_count() == 7 and not rec.has_rep_bounds()
    assert rec.t_ms()[1] == 20


def _commands():
    from hipflex.cli import build_parser
    import argparse
    sub = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)][0]
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_explains_itself(command, capsys):
    """``hipflex COMMAND --help`` prints its help and exits 0 (a stray '%'
    in an option's help made argparse raise instead)."""
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hipflex %s" % command) and "-h, --help" in out
