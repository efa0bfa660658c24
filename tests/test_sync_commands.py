"""record and config push against the firmware App over a real pty, and the
protocol's refusal of unauthenticated or replayed setting changes."""

import re
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("adafruit_lsm6ds")
pytest.importorskip("adafruit_bus_device")

from test_sync_pty import (EXERCISE, REC, SECRET, FirmwareOnPty, host_env,  # noqa: E402
                           wait_for)

from hipflex import recording  # noqa: E402
from hipflex.core import protocol as P  # noqa: E402


def hipflex(*argv, **env):
    p = subprocess.run([sys.executable, "-m", "hipflex"] + list(argv), env=host_env(**env),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def port(tmp_path):
    return str(tmp_path / "ttyHIPFLEX")


@pytest.fixture
def device(port):
    made = []

    def make(samples=(), secret=SECRET, speed=25.0):
        settings = {"HIPFLEX_SECRET": secret} if secret else {}
        d = FirmwareOnPty(port, samples, settings=settings, speed=speed)
        made.append(d)
        return d
    yield make
    for d in made:
        d.stop()


def ring(dev):
    return [e[2] for e in dev.events()]


def sent_commands(dev):
    return dev.call(lambda d: bytes(d.received).decode().splitlines())


def test_config_push_with_the_owner_secret(device, port):
    dev = device()
    rc, out, err = hipflex("config", "push", "--serial", port, "--exercise", "v_sit_hold",
                           "--set", "min_rom_deg=15", "--set", "target_hold_ms=25000",
                           "--new-set", HIPFLEX_SECRET=SECRET)
    assert rc == 0, err
    assert out == "pushed: exercise v_sit_hold, min_rom_deg=15, target_hold_ms=25000, new set\n"
    evs = [P.decode(ln) for ln in ring(dev)]
    assert [(m["type"], m.get("key"), m.get("val"), m.get("set")) for m in evs] == [
        ("BOOT", None, None, None), ("EX", None, None, 1), ("SET", None, None, 2),
        ("PARAM", "min_rom_deg", 15, None), ("PARAM", "target_hold_ms", 25000, None),
        ("SET", None, None, 3)]
    assert dev.call(lambda d: (d.app.exercise, d.app.session)) == (
        "v_sit_hold", {"min_rom_deg": 15, "target_hold_ms": 25000})
    # Every state-changing command went out signed, each after its own nonce.
    cmds = sent_commands(dev)
    assert [c.split()[0] for c in cmds] == ["hello", "nonce", "ex", "nonce", "set", "nonce",
                                           "set", "nonce", "new"]
    assert all(" mac=" in c for c in cmds if c.split()[0] in ("ex", "set", "new"))


@pytest.mark.parametrize("secret_env, msg", [
    ("not-the-owner-secret-at-all", "device refused 'ex': wrong owner secret"),
    ("", "changing settings needs the owner secret"),
])
def test_config_push_refused_without_the_secret(device, port, secret_env, msg):
    dev = device()
    before = ring(dev)
    rc, out, err = hipflex("config", "push", "--serial", port, "--exercise", "v_sit_hold",
                           HIPFLEX_SECRET=secret_env)
    assert rc == 2 and msg in err and "Traceback" not in err
    assert ring(dev) == before
    assert dev.call(lambda d: d.app.exercise) == EXERCISE


def test_board_without_secret_refuses_changes(device, port):
    dev = device(secret=None)
    rc, out, err = hipflex("config", "push", "--serial", port, "--new-set",
                           HIPFLEX_SECRET=SECRET)
    assert rc == 2 and "has no owner secret configured" in err
    assert [P.decode(ln)["type"] for ln in ring(dev)] == ["BOOT"]


def test_replayed_authenticated_command_is_refused(device, port):
    import serial
    dev = device()
    rc, out, err = hipflex("config", "push", "--serial", port, "--set", "min_rom_deg=15",
                           HIPFLEX_SECRET=SECRET)
    assert rc == 0, err
    signed = [c for c in sent_commands(dev) if c.startswith("set ")]
    assert len(signed) == 1 and " mac=" in signed[0]
    before = ring(dev)
    # An eavesdropper replays the captured line: as is, and after asking for
    # a fresh nonce of its own. Both are refused and nothing changes.
    with serial.Serial(port, 115200, timeout=0.05) as s:
        ra = P.LineReassembler()

        def reply(cmd):
            s.write(cmd.encode() + b"\n")
            t_end = time.monotonic() + 5
            while time.monotonic() < t_end:
                for ln in ra.feed(s.read(4096)):
                    m = P.decode(ln)
                    if m["type"] in ("ERR", "OK", "NONCE"):
                        return m
            raise AssertionError("no reply to %r" % cmd)

        assert reply(signed[0]) == {"type": "ERR", "cmd": "set", "code": "nonce"}
        assert reply("nonce")["type"] == "NONCE"
        assert reply(signed[0]) == {"type": "ERR", "cmd": "set", "code": "auth"}
        assert reply("set min_rom_deg 3") == {"type": "ERR", "cmd": "set", "code": "nonce"}
    assert ring(dev) == before
    assert dev.call(lambda d: d.app.session) == {"min_rom_deg": 15}


def test_record_writes_the_raw_stream(device, port, tmp_path):
    rec = recording.read(REC)
    dev = device(samples=list(rec.samples()), speed=10.0)
    out_csv = str(tmp_path / "rec.csv")
    rc, out, err = hipflex("record", "--serial", port, "-o", out_csv, "--duration", "1.0",
                           "--exercise", "standing_march", HIPFLEX_SECRET=SECRET)
    assert rc == 0, err
    got = recording.read(out_csv, units="ms2")
    raw = [P.decode_raw(ln) for ln in dev.raw_sent]
    # The file holds exactly the samples streamed, in the recording format.
    assert len(got) == len(raw) > 300
    t0 = raw[0]["t"]
    assert [round(x, 4) for x in got.t] == [round((m["t"] - t0) / 1000.0, 4) for m in raw]
    assert got.acc.tolist() == [list(m["acc"]) for m in raw]
    assert got.gyr.tolist() == [list(m["gyr"]) for m in raw]
    assert 100 < got.rate_hz < 108
    # "dropped" is what the board says it missed meanwhile: its sensor loop
    # counts a gap of more than 1.5 sample periods between data-ready samples
    # (this recording has timing jitter and gaps of its own).
    period_ms = 1000.0 / 104
    gaps = sum(int((d + period_ms / 2) // period_ms) - 1
               for d in np.diff([m["t"] for m in raw]) if d > 1.5 * period_ms)
    m = re.match(r"wrote (.*): ([0-9.]+) s, (\d+) samples, ([0-9.]+) Hz, (\d+) dropped\n$", out)
    assert m and m.group(1) == out_csv and int(m.group(3)) == len(raw), out
    assert int(m.group(5)) == gaps
    assert "samples" in err and "Hz" in err
    # The board was switched to the exercise first (authenticated) and the
    # stream was turned off at the end.
    cmds = sent_commands(dev)
    assert cmds[:5] == ["hello", "nonce", cmds[2], "status", "raw on 1"]
    assert cmds[2].startswith("ex standing_march mac=")
    assert cmds[5:] == ["raw off", "status"]
    assert dev.call(lambda d: (d.app.exercise, d.board.usb_link.raw_div)) == (
        "standing_march", 0)


def test_record_bad_input(device, port, tmp_path):
    rc, out, err = hipflex("record", "--serial", port, "-o", str(tmp_path / "x.txt"))
    assert rc == 2 and "ends in .csv" in err
    rc, out, err = hipflex("record", "--serial", str(tmp_path / "nope"), "-o",
                           str(tmp_path / "x.csv"))
    assert rc == 2 and "does not exist" in err
    rc, out, err = hipflex("record", "--serial", port, "-o", str(tmp_path / "x.csv"),
                           "--exercise", "standing_march", HIPFLEX_SECRET="")
    assert rc == 2 and "owner secret" in err
