"""Board commands: argument checks, USB port detection, the live panel."""

import io
import re

import pytest
from rich.console import Console

from hipflex import cli
from hipflex.sync.commands import LivePanel, parse_settings
from hipflex.sync.session import LiveState
from hipflex.sync.transport_serial import ADAFRUIT_VID, find_board_ports
from hipflex.errors import UserError


class Port:
    def __init__(self, device, vid, interface=None, description="", location=""):
        self.device, self.vid, self.interface = device, vid, interface
        self.description, self.location = description, location


def test_find_board_ports_prefers_the_data_port():
    ports = [Port("/dev/ttyUSB0", 0x0403, description="FT232R"),
             Port("/dev/ttyACM0", ADAFRUIT_VID, "CircuitPython CDC control", location="1-1:1.0"),
             Port("/dev/ttyACM1", ADAFRUIT_VID, "CircuitPython CDC2 control", location="1-1:1.2")]
    assert find_board_ports(ports) == ["/dev/ttyACM1", "/dev/ttyACM0"]
    # Without interface names: the higher USB interface number is the data port.
    ports = [Port("/dev/ttyACM3", ADAFRUIT_VID, location="1-2:1.0"),
             Port("/dev/ttyACM4", ADAFRUIT_VID, location="1-2:1.2")]
    assert find_board_ports(ports) == ["/dev/ttyACM4", "/dev/ttyACM3"]
    assert find_board_ports([Port("/dev/ttyUSB0", 0x0403)]) == []


def test_parse_settings():
    assert parse_settings(["min_rom_deg=15", " target_hold_ms = 3000"]) == [
        ("min_rom_deg", 15), ("target_hold_ms", 3000)]
    for bad, msg in (("min_rom_deg", "expected KEY=VALUE"), ("nope=3", "unknown parameter"),
                     ("min_rom_deg=1.5", "must be an integer")):
        with pytest.raises(UserError, match=msg):
            parse_settings([bad])


@pytest.mark.parametrize("argv, msg", [
    (["sync", "--serial", "/nonexistent/ttyX"], "serial port /nonexistent/ttyX does not exist"),
    (["config", "push", "--serial", "/dev/null"], "nothing to push"),
    (["config", "push", "--serial", "/dev/null", "--set", "x=1"], "unknown parameter 'x'"),
    (["config", "push", "--serial", "/dev/null", "--exercise", "yoga"], "unknown exercise"),
    (["record", "--serial", "/dev/null", "-o", "x.csv", "--duration", "0"],
     "--duration must be positive"),
    (["record", "--serial", "/dev/null", "-o", "x.csv", "--exercise", "yoga"],
     "unknown exercise"),
    (["scan", "--timeout", "0"], "--timeout must be positive"),
])
def test_bad_input_is_one_line(argv, msg, capsys, monkeypatch):
    monkeypatch.setenv("HIPFLEX_SECRET", "s" * 20)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def render(panel):
    c = Console(file=io.StringIO(), width=100, color_system=None)
    c.print(panel)
    return c.file.getvalue()


def test_live_panel_shows_count_hold_target_battery_link():
    p = LivePanel("serial:/dev/ttyACM1")
    assert "starting" in render(p)
    st = LiveState()
    st.link, st.device, st.name = "connected", "5f3a91c2", "hipflex-91C2"
    st.exercise, st.set, st.count = "standing_knee_hold", 2, 7
    st.target_hold_ms = 5000
    st.hold_ms, st.hold_at = 2500, 100.0
    st.battery_pct = 64
    st.stored, st.duplicates, st.lost = 31, 4, 2
    st.last_rep = {"rom": 88.5, "hold": 5200}
    p.update(st)
    import time as _t
    real = _t.monotonic
    _t.monotonic = lambda: 101.0              # one second into the hold
    try:
        text = render(p)
    finally:
        _t.monotonic = real
    assert "connected  serial:/dev/ttyACM1" in text
    assert "hipflex-91C2 (5f3a91c2)" in text
    assert "standing_knee_hold, set 2" in text
    assert re.search(r"count  7 ", text)
    assert " 3.5 s / 5.0 s  " + "\u2588" * 14 + "\u2591" * 6 in text
    assert "ROM 88.5 deg, hold 5.2 s" in text
    assert "64 %" in text
    assert "31 new, 4 duplicates, 2 lost" in text
    st.link = "lost"
    st.hold_ms = 0
    text = render(p)
    assert "lost, reconnecting" in text and " 0.0 s / 5.0 s" in text
