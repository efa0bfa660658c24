"""The sync database: schema, exactly-once ingest, gaps, crash safety."""

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from hipflex.errors import UserError
from hipflex.sync import store as store_mod
from hipflex.sync.store import Store


def rep(seq, boot="b1", device="dev1", t_ms=None, rom=30.0, hold=0, exercise="supine_march",
        set_no=1):
    return {"kind": "rep", "device": device, "boot": boot, "seq": seq,
            "t_ms": 1000 * seq if t_ms is None else t_ms, "rom_deg": rom, "hold_ms": hold,
            "exercise": exercise, "set": set_no}


def rep_rows(path):
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "SELECT d.uid, b.boot, r.seq, r.t_ms, r.rom_deg, r.hold_ms, r.exercise, r.set_no "
            "FROM reps r JOIN boots b ON b.id = r.boot JOIN devices d ON d.id = b.device "
            "ORDER BY d.uid, b.boot, r.seq").fetchall()
    finally:
        con.close()


def test_schema_version_and_wal(tmp_path):
    p = tmp_path / "h.db"
    with Store(p) as s:
        assert s.conn.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Reopening does not re-run migrations.
    with Store(p) as s:
        assert s.conn.execute("SELECT COUNT(*) FROM devices").fetchone()[0] == 0


def test_newer_schema_is_refused(tmp_path):
    p = tmp_path / "h.db"
    con = sqlite3.connect(p)
    con.execute("PRAGMA user_version = 99")
    con.close()
    with pytest.raises(UserError, match="newer hipflex"):
        Store(p)


def test_not_a_database_is_a_user_error(tmp_path):
    p = tmp_path / "h.db"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a usable hipflex database"):
        Store(p)


def test_readonly_missing_db_is_user_error(tmp_path):
    with pytest.raises(UserError, match="no sync database"):
        Store(tmp_path / "nope.db", readonly=True)


def test_ingest_exactly_once_with_duplicates_and_reordering(tmp_path):
    p = tmp_path / "h.db"
    with Store(p) as s:
        r = s.ingest([rep(1), rep(2), rep(4)])
        assert [e["seq"] for e in r.new] == [1, 2, 4] and r.duplicates == 0
        assert s.acked_seq("dev1", "b1") == 2
        assert s.missing("dev1", "b1", 5) == [(3, 3), (5, 5)]
        r = s.ingest([rep(4), rep(3), rep(2), rep(5), rep(5)])
        assert [e["seq"] for e in r.new] == [3, 5] and r.duplicates == 3
        assert s.acked_seq("dev1", "b1") == 5
    assert rep_rows(p) == [("dev1", "b1", q, 1000 * q, 30.0, 0, "supine_march", 1)
                           for q in range(1, 6)]


def test_reboot_restarts_sequence_in_a_new_boot(tmp_path):
    p = tmp_path / "h.db"
    with Store(p) as s:
        s.ingest([rep(1), rep(2)])
        s.ingest([rep(1, boot="b2", rom=40.0), rep(2, boot="b2", rom=41.0)])
        assert s.acked_seq("dev1", "b1") == 2
        assert s.acked_seq("dev1", "b2") == 2
        assert s.acked_seq("dev1", "b3") == 0
    assert rep_rows(p) == [
        ("dev1", "b1", 1, 1000, 30.0, 0, "supine_march", 1),
        ("dev1", "b1", 2, 2000, 30.0, 0, "supine_march", 1),
        ("dev1", "b2", 1, 1000, 40.0, 0, "supine_march", 1),
        ("dev1", "b2", 2, 2000, 41.0, 0, "supine_march", 1),
    ]


def test_two_connections_same_device(tmp_path):
    # The same device synced over two links into one database: one row each.
    p = tmp_path / "h.db"
    a, b = Store(p), Store(p)
    a.ingest([rep(1), rep(2)])
    r = b.ingest([rep(2), rep(3)])
    assert [e["seq"] for e in r.new] == [3]
    a.close()
    b.close()
    assert [row[2] for row in rep_rows(p)] == [1, 2, 3]


def test_declared_gap_advances_ack_and_is_listed(tmp_path):
    p = tmp_path / "h.db"
    with Store(p) as s:
        s.ingest([rep(1), rep(2), rep(9), rep(10)])
        assert s.acked_seq("dev1", "b1") == 2
        assert s.declare_lost("dev1", "b1", 3, 10, reason="ring buffer overflow") == [(3, 8)]
        assert s.acked_seq("dev1", "b1") == 10
        # Declaring the same loss again records nothing new.
        assert s.declare_lost("dev1", "b1", 3, 8) == []
        assert [(g["first_seq"], g["last_seq"], g["reason"]) for g in s.gaps()] == [
            (3, 8, "ring buffer overflow")]
        assert s.missing("dev1", "b1", 12) == [(11, 12)]


def test_status_sets_params(tmp_path):
    p = tmp_path / "h.db"
    with Store(p) as s:
        st = {"device": "d", "boot": "b", "seq": 0, "t_ms": 5, "battery_pct": 80,
              "battery_mv": 3900, "exercise": "v_sit_hold", "set": 1, "n": 0, "missed": 0,
              "buffer_fill": 0, "buffer_cap": 256, "hold_ms": 0, "raw": "ST ..."}
        assert s.record_status(st, received_ms=10_000) is True
        assert s.record_status(st, received_ms=10_050) is False   # same report twice
        s.ingest([
            {"kind": "boot", "device": "d", "boot": "b", "seq": 1, "t_ms": 0,
             "exercise": "v_sit_hold"},
            {"kind": "rep", "device": "d", "boot": "b", "seq": 2, "t_ms": 900, "rom_deg": 50.5,
             "hold_ms": 21000, "n": 1, "start_ms": 100, "peak_ms": 400},
            {"kind": "param", "device": "d", "boot": "b", "seq": 3, "t_ms": 950,
             "key": "target_hold_ms", "val": 15000},
            {"kind": "rep", "device": "d", "boot": "b", "seq": 4, "t_ms": 990, "rom_deg": 40.0,
             "hold_ms": 16000, "exercise": "v_sit_hold", "set": 1, "n": 2},
            {"kind": "ex", "device": "d", "boot": "b", "seq": 5, "t_ms": 1000,
             "exercise": "standing_knee_hold", "set": 2},
            {"kind": "set", "device": "d", "boot": "b", "seq": 6, "t_ms": 1000,
             "exercise": "standing_knee_hold", "set": 2, "prev": 2},
            {"kind": "rep", "device": "d", "boot": "b", "seq": 7, "t_ms": 2000, "rom_deg": 90.0,
             "hold_ms": 4000, "exercise": "standing_knee_hold", "set": 2, "n": 1},
        ], received_ms=10_000)
        assert s.conn.execute("SELECT t_ms, battery_pct, exercise, set_no, buffer_cap "
                              "FROM status").fetchall() == [(5, 80, "v_sit_hold", 1, 256)]
        # A rep without set/exercise takes the boot's current ones; the
        # target comes from the profile, then from a PARAM until the next
        # exercise change.
        reps = s.conn.execute("SELECT seq, exercise, set_no, n, start_ms, peak_ms, "
                              "target_hold_ms FROM reps ORDER BY seq").fetchall()
        assert reps == [(2, "v_sit_hold", 1, 1, 100, 400, 20000),
                        (4, "v_sit_hold", 1, 2, None, None, 15000),
                        (7, "standing_knee_hold", 2, 1, None, None, 5000)]
        assert s.conn.execute("SELECT set_no, exercise FROM sets ORDER BY set_no").fetchall() == [
            (1, "v_sit_hold"), (2, "standing_knee_hold")]
        assert s.acked_seq("d", "b") == 7


def test_other_boots_behind(tmp_path):
    with Store(tmp_path / "h.db") as s:
        s.ingest([rep(1), rep(2)])
        s.note_device_seq("dev1", "b1", 5)
        s.ingest([rep(1, boot="b2")])
        assert s.other_boots_behind("dev1", "b2") == [("b1", 3, 5)]
        s.declare_lost("dev1", "b1", 3, 5, reason="device restarted")
        assert s.other_boots_behind("dev1", "b2") == []


def test_clock_offset_gives_wall_time(tmp_path):
    with Store(tmp_path / "h.db") as s:
        s.note_clock("dev1", "b1", device_ms=60_000, host_ms=1_700_000_060_000)
        s.ingest([rep(1, t_ms=30_000)], received_ms=1_700_000_999_000)
        assert s.conn.execute("SELECT wall_ms FROM reps").fetchone()[0] == 1_700_000_030_000


CRASH_SCRIPT = textwrap.dedent("""
    import sys
    from hipflex.sync.store import Store
    s = Store(sys.argv[1])
    evs = [{"kind": "rep", "device": "dev1", "boot": "b1", "seq": q, "t_ms": q * 1000,
            "rom_deg": 30.0, "hold_ms": 0, "exercise": "supine_march", "set": 1}
           for q in range(int(sys.argv[2]), int(sys.argv[3]) + 1)]
    s.ingest(evs)
    print("done")
""")


def test_killed_mid_write_leaves_consistent_db_and_rerun_completes(tmp_path):
    p = str(tmp_path / "h.db")
    env = dict(os.environ)
    host = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "host")
    env["PYTHONPATH"] = host + os.pathsep + env.get("PYTHONPATH", "")
    run = [sys.executable, "-c", CRASH_SCRIPT, p]
    assert subprocess.run(run + ["1", "3"], env=env, capture_output=True).returncode == 0
    env["HIPFLEX_FAULT_KILL_AFTER_ROWS"] = "5"   # dies between seq 5's event and rep rows
    pr = subprocess.run(run + ["4", "8"], env=env, capture_output=True)
    assert pr.returncode == -9
    con = sqlite3.connect(p)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 3
    assert con.execute("SELECT acked_seq FROM boots").fetchone()[0] == 3
    con.close()
    assert [r[2] for r in rep_rows(p)] == [1, 2, 3]
    del env["HIPFLEX_FAULT_KILL_AFTER_ROWS"]
    pr = subprocess.run(run + ["2", "8"], env=env, capture_output=True)
    assert pr.returncode == 0, pr.stderr
    assert [r[2] for r in rep_rows(p)] == list(range(1, 9))
    with Store(p) as s:
        assert s.acked_seq("dev1", "b1") == 8
