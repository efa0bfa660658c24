"""hipflex history / report on a real SQLite file."""

import csv
import datetime as dt
import io

import pytest

from hipflex import cli
from hipflex.sync.store import Store


def wall(day, hh, mm=0, ss=0):
    return int(dt.datetime.combine(day, dt.time(hh, mm, ss)).timestamp() * 1000)


def _rep(seq, boot, wall_ms, rom, hold, exercise, set_no, device="dev1"):
    return {"kind": "rep", "device": device, "boot": boot, "seq": seq, "t_ms": seq * 1000,
            "wall_ms": wall_ms, "rom_deg": rom, "hold_ms": hold, "exercise": exercise,
            "set": set_no}


@pytest.fixture
def db(tmp_path):
    p = str(tmp_path / "h.db")
    d1 = dt.date.today() - dt.timedelta(days=10)
    d2 = dt.date.today() - dt.timedelta(days=3)
    evs = []
    # Day 1: two sets of standing_knee_hold (target 5 s), one set of supine_march.
    evs += [_rep(1, "b1", wall(d1, 9, 0, 0), 80.0, 6000, "standing_knee_hold", 1),
            _rep(2, "b1", wall(d1, 9, 0, 20), 90.0, 4000, "standing_knee_hold", 1),
            _rep(3, "b1", wall(d1, 9, 5, 0), 85.0, 5000, "standing_knee_hold", 2),
            _rep(4, "b1", wall(d1, 9, 10, 0), 30.0, 0, "supine_march", 3),
            _rep(5, "b1", wall(d1, 9, 10, 2), 40.0, 0, "supine_march", 3)]
    # Day 2, after a reboot: one set of standing_knee_hold.
    evs += [_rep(1, "b2", wall(d2, 18, 0, 0), 95.0, 7000, "standing_knee_hold", 1),
            _rep(2, "b2", wall(d2, 18, 0, 30), 97.0, 5500, "standing_knee_hold", 1)]
    with Store(p) as s:
        s.ingest(evs)
        s.declare_lost("dev1", "b1", 6, 9, reason="device ring buffer overflowed")
    return p, d1, d2


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_history_csv_exact(db, tmp_path, capsys):
    p, d1, d2 = db
    out = str(tmp_path / "h.csv")
    assert cli.main(["history", "--db", p, "--csv", out]) == 0
    assert read_csv(out) == [
        ["date", "exercise", "sets", "reps", "mean_rom_deg", "hold_total_s", "hold_longest_s",
         "holds_at_target", "target_hold_s"],
        [d1.isoformat(), "standing_knee_hold", "2", "3", "85.0", "15.0", "6.0", "2", "5.0"],
        [d1.isoformat(), "supine_march", "1", "2", "35.0", "0.0", "0.0", "", ""],
        [d2.isoformat(), "standing_knee_hold", "1", "2", "96.0", "12.5", "7.0", "2", "5.0"],
    ]
    assert capsys.readouterr().out == "\n".join([
        "Date        Exercise            Sets  Reps  Mean ROM  Hold total  Longest     At target",
        "----------  ------------------  ----  ----  --------  ----------  -------  ------------",
        "%s  standing_knee_hold     2     3  85.0 deg      15.0 s    6.0 s  2/3 (>= 5 s)" % d1,
        "            supine_march           1     2  35.0 deg       0.0 s    0.0 s             -",
        "%s  standing_knee_hold     1     2  96.0 deg      12.5 s    7.0 s  2/2 (>= 5 s)" % d2,
        "2 days, 7 reps",
        "note: 4 events lost on device dev1 (boot b1, seq 6-9): device ring buffer overflowed",
        ""])


def test_history_filters(db, tmp_path, capsys):
    p, d1, d2 = db
    assert cli.main(["history", "--db", p, "--since", d2.isoformat(), "--csv", "-"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [r[:4] for r in rows[1:]] == [[d2.isoformat(), "standing_knee_hold", "1", "2"]]
    assert cli.main(["history", "--db", p, "--since", "30d", "--exercise", "supine_march",
                     "--csv", "-"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [r[:4] for r in rows[1:]] == [[d1.isoformat(), "supine_march", "1", "2"]]


@pytest.mark.parametrize("argv, msg", [
    (["--since", "last tuesday"], "--since 'last tuesday'"),
    (["--exercise", "no_such"], "unknown exercise 'no_such'"),
])
def test_history_bad_input(db, capsys, argv, msg):
    p, _, _ = db
    assert cli.main(["history", "--db", p] + argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and err.count("\n") == 1


def test_history_missing_db(tmp_path, capsys):
    assert cli.main(["history", "--db", str(tmp_path / "none.db")]) == 2
    assert "no sync database" in capsys.readouterr().err


def test_report_png_and_html(db, tmp_path):
    p, d1, d2 = db
    png = tmp_path / "r.png"
    assert cli.main(["report", "--db", p, "--weeks", "4", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000
    page = tmp_path / "r.html"
    assert cli.main(["report", "--db", p, "-o", str(page)]) == 0
    text = page.read_text()
    assert "data:image/png;base64," in text
    # Week table: the two days fall into their ISO weeks.
    w1 = (d1 - dt.timedelta(days=d1.weekday())).isoformat()
    w2 = (d2 - dt.timedelta(days=d2.weekday())).isoformat()
    assert "<tr><td>%s</td><td>standing_knee_hold</td><td>1</td><td>3</td><td>85.0</td>" \
           "<td>5.0</td><td>67 %%</td></tr>" % w1 in text
    assert "<tr><td>%s</td><td>standing_knee_hold</td><td>1</td><td>2</td><td>96.0</td>" \
           "<td>6.2</td><td>100 %%</td></tr>" % w2 in text
    assert "events 6-9 lost" in text


def test_report_bad_input(db, tmp_path, capsys):
    p, _, _ = db
    assert cli.main(["report", "--db", p, "-o", str(tmp_path / "r.txt")]) == 2
    assert "must end in .png" in capsys.readouterr().err
    assert cli.main(["report", "--db", p, "--weeks", "0", "-o", str(tmp_path / "r.png")]) == 2
    empty = str(tmp_path / "e.db")
    Store(empty).close()
    assert cli.main(["report", "--db", empty, "-o", str(tmp_path / "r.png")]) == 2
    assert "nothing to report" in capsys.readouterr().err


def test_default_database_is_in_the_user_data_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert cli.main(["history"]) == 2
    want = str(tmp_path / "data" / "hipflex" / "hipflex.sqlite3")
    assert "no sync database at %s" % want in capsys.readouterr().err
    with Store() as s:                       # what sync creates without --db
        assert s.path == want
    assert cli.main(["history"]) == 0
    assert "No reps stored" in capsys.readouterr().out
