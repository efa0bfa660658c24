"""hipflex label: count-only and confirmed-bounds labels files."""

import io
import json
import os
import shutil

import pytest

from hipflex import cli, recording
from hipflex.analyze import run_detector
from hipflex.core import profiles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "recordings", "demo_standing_march.csv")


@pytest.fixture
def rec_path(tmp_path):
    p = str(tmp_path / "mine.csv")
    shutil.copy(DEMO, p)
    return p


def labels_of(p):
    with open(recording.labels_path(p)) as f:
        return json.load(f)


def test_count_only_label(rec_path, capsys):
    assert cli.main(["label", rec_path, "--reps", "10", "--hold", "2.5",
                     "--exercise", "standing_march"]) == 0
    assert labels_of(rec_path) == {"count": 10, "reps": [], "exercise": "standing_march",
                                   "hold_s": 2.5, "source": "user"}
    rec = recording.read(rec_path)
    assert rec.labelled_count() == 10 and not rec.has_rep_bounds()
    assert rec.exercise == "standing_march"
    assert "wrote %s: 10 reps (count only)" % recording.labels_path(rec_path) \
        in capsys.readouterr().out
    # A count-only label may be replaced without --force.
    assert cli.main(["label", rec_path, "--reps", "0"]) == 0
    assert labels_of(rec_path) == {"count": 0, "reps": [], "exercise": "standing_march",
                                   "source": "user"}


def test_interactive_keeps_confirmed_reps(rec_path, monkeypatch, capsys):
    rec = recording.read(rec_path)
    reps = run_detector(rec, profiles.get("standing_march"))
    assert len(reps) >= 3
    answers = ["y", "n"] + ["y"] * (len(reps) - 2) + ["0"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(answers) + "\n"))
    assert cli.main(["label", rec_path, "--interactive", "--exercise", "standing_march"]) == 0
    kept = [r for i, r in enumerate(reps) if i != 1]
    assert labels_of(rec_path) == {
        "count": len(kept), "exercise": "standing_march", "source": "user",
        "reps": [{"start": r.start_ms / 1000.0, "peak": r.peak_ms / 1000.0,
                  "end": r.end_ms / 1000.0, "hold": r.hold_ms / 1000.0,
                  "rom_deg": round(r.rom_deg, 1)} for r in kept]}
    assert recording.read(rec_path).labelled_count() == len(kept)
    # Bounds are not overwritten by accident.
    assert cli.main(["label", rec_path, "--reps", "3"]) == 2
    assert "pass --force" in capsys.readouterr().err
    # Missed reps: the bounds would be incomplete, so count only.
    monkeypatch.setattr("sys.stdin", io.StringIO("q\n2\n"))
    assert cli.main(["label", rec_path, "--interactive", "--force"]) == 0
    assert labels_of(rec_path) == {"count": 2, "reps": [], "exercise": "standing_march",
                                   "source": "user"}


@pytest.mark.parametrize("argv, msg", [
    (["--reps", "-1"], "--reps must be 0 or more"),
    (["--reps", "3", "--exercise", "jumping"], "unknown exercise 'jumping'"),
    (["--reps", "3", "--hold", "-2"], "--hold must be between"),
    (["--interactive"], "no answer on stdin"),
])
def test_bad_input(rec_path, monkeypatch, capsys, argv, msg):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli.main(["label", rec_path] + argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1
    assert not os.path.exists(recording.labels_path(rec_path))


def test_not_a_recording(tmp_path, capsys):
    p = tmp_path / "x.csv"
    p.write_text("hello\n")
    assert cli.main(["label", str(p), "--reps", "3"]) == 2
    assert "header" in capsys.readouterr().err
