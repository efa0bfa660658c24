"""The firmware App on emulated hardware: real adafruit_lsm6ds driver against
the register emulator, emulated clock and links."""

import pytest

pytest.importorskip("adafruit_lsm6ds")
pytest.importorskip("adafruit_bus_device")

import emulation  # noqa: E402,F401  (puts firmware/ on sys.path)
from emulation import synth  # noqa: E402
from emulation.harness import Board  # noqa: E402
from emulation.lsm6ds import LSM6DSEmu  # noqa: E402

from hipflex.core import profiles  # noqa: E402
from hipflex.core import protocol as P  # noqa: E402
from hipflex.analyze import detect  # noqa: E402
from hipflex.core.detector import Detector  # noqa: E402
from hipflex_app import feedback  # noqa: E402
from hipflex_app.config import Config  # noqa: E402

VARIANTS = ["LSM6DS33", "LSM6DS3TRC", "ISM330DHCX", "LSM6DSOX", "LSM6DSO32"]
TAGGED_FIFO = ("ISM330DHCX", "LSM6DSOX", "LSM6DSO32")
MARCH = [("rest", 4), ("reps", 10, 60, 0.6, 0.0, 0.7, 0.5), ("rest", 3)]
SECRET = "0123456789abcdef-owner"


def host_reps(plan, exercise, **kw):
    """The host harness: the detector run directly on the samples."""
    return detect(synth.samples(plan, **kw), profiles.get(exercise))


def assert_same_reps(board_reps, reps, tol_ms=45, tol_deg=5.0):
    """Same reps as the host run on the ideal samples, within what sampling
    changes: the board starts sampling later, quantises to 16 bits and its
    sample times jitter by a millisecond. A rep's start lies somewhere in the
    flat rest before it and the peak of a flat hold anywhere in the hold, so
    those are only checked to lie there."""
    assert len(board_reps) == len(reps) > 0
    prev_end = 0
    for m, r in zip(board_reps, reps):
        assert abs(m["t"] - r.end_ms) <= tol_ms, (m, r)
        # the start is somewhere in the rest before the rep, on both sides
        assert prev_end - tol_ms <= m["start"] <= m["peak"], (m, r)
        assert min(r.start_ms, m["start"]) <= r.peak_ms - 100, (m, r)
        prev_end = r.end_ms
        if r.hold_ms < 500:
            assert abs(m["peak"] - r.peak_ms) <= tol_ms, (m, r)
        assert abs(m["rom"] - r.rom_deg) <= tol_deg, (m, r)
        assert abs(m["hold"] - r.hold_ms) <= tol_ms + 40, (m, r)


def tap(board):
    """Record every sample the firmware feeds to its detector."""
    fed = []
    real = board.app.det.update

    def update(*s):
        fed.append(s)
        return real(*s)
    board.app.det.update = update
    return fed


def replay_fed(fed, exercise):
    det = Detector(profiles.get(exercise))
    return [r for r in (det.update(*s) for s in fed) if r is not None]


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_chip_counts_like_the_host_detector(variant):
    mount = synth.FLIPPED if variant in ("LSM6DS3TRC", "LSM6DSOX") else synth.IDENTITY
    b = Board(variant, synth.samples(MARCH, mount=mount),
              settings={"HIPFLEX_EXERCISE": "standing_march"})
    fed = tap(b)
    assert b.app.chip == variant           # LSM6DSO32 told apart from LSM6DSOX
    assert any(variant in ln for ln in b.log)
    assert b.app.imu.fifo == ("tagged" if variant in TAGGED_FIFO else "words")
    start_prod = b.chip.produced
    b.run_until(26000)
    boot = b.usb.messages("BOOT")
    assert boot and boot[0]["chip"] == variant and boot[0]["rate"] == 104
    got = b.usb.messages("REP")
    assert_same_reps(got, host_reps(MARCH, "standing_march", mount=mount))
    assert [m["n"] for m in got] == list(range(1, len(got) + 1))
    # exactly what the core makes of the samples the firmware read
    exact = replay_fed(fed, "standing_march")
    assert [(m["start"], m["peak"], m["t"], m["rom"], m["hold"]) for m in got] == \
        [(r.start_ms, r.peak_ms, r.end_ms, round(r.rom_deg, 1), r.hold_ms) for r in exact]
    # every sample produced while the app ran reached the core; none missed
    assert b.app.missed == 0
    assert b.app.sample_count >= b.chip.produced - start_prod - 1
    assert b.chip.clipped == 0
    # the chip was configured as documented
    assert b.chip.accel_fs_g() == 8 and b.chip.gyro_fs_dps() == 2000
    assert b.chip.accel_odr_hz() == 104 and b.chip.gyro_odr_hz() == 104


def test_chip_at_alternate_address_and_rate_setting():
    b = Board("LSM6DS33", synth.samples(MARCH, rate_hz=208), address=0x6B,
              settings={"HIPFLEX_RATE_HZ": 208, "HIPFLEX_EXERCISE": "standing_march"})
    assert b.app.imu.address == 0x6B and b.chip.accel_odr_hz() == 208
    b.run_until(26000)
    assert_same_reps(b.usb.messages("REP"),
                     host_reps(MARCH, "standing_march", rate_hz=208))
    assert b.app.missed == 0


def test_forced_chip_setting():
    b = Board("LSM6DSO32", synth.samples(MARCH),
              settings={"HIPFLEX_IMU": "LSM6DSO32"})
    assert b.app.chip == "LSM6DSO32"
    # the 8 g code of the DSO32 table is 2, not the DSOX's 3
    assert b.chip.accel_fs_g() == 8


def test_no_sensor_reports_and_keeps_serving():
    b = Board(None)
    assert b.app.imu is None and b.app.chip == "none"
    assert any("no LSM6DS-family IMU" in ln and "0x6a" in ln for ln in b.log)
    b.run_for(4000)                          # no crash loop: it keeps stepping
    b.usb.send("hello\n")
    b.run_for(20)
    hello = b.usb.messages("HELLO")
    assert hello and hello[-1]["chip"] == "none"
    assert b.usb.messages("BOOT")[0]["chip"] == "none"
    # distinct LED pattern: red blinks and dark gaps, nothing else
    colors = set(b.pixel.history)
    red = feedback._scale(feedback.RED, b.app.feedback.led.brightness / 255.0)
    assert colors == {red, (0, 0, 0)}
    assert b.screen.shown[-1][3].startswith("no LSM6DS")


def test_wrong_chip_is_named_not_wiring():
    class Other(LSM6DSEmu):
        pass
    b = Board("LSM6DS33")
    b.chip.regs[0x0F] = 0x55           # answers, but is no LSM6DS
    b.chip.who = 0x55
    from hipflex_app.sensor import SensorNotFound, find_chip
    with pytest.raises(SensorNotFound) as ei:
        find_chip(b.i2c)
    assert "0x6a: unknown chip" in str(ei.value)


def test_tick_wrap_is_unfolded():
    b = Board("LSM6DS33", synth.samples(MARCH), start_ticks=(1 << 29) - 6000,
              settings={"HIPFLEX_EXERCISE": "standing_march"})
    b.run_until(26000)
    assert b.clock.ticks_ms() < 30000            # the tick counter wrapped
    reps = b.usb.messages("REP")
    assert_same_reps(reps, host_reps(MARCH, "standing_march"))
    ts = [m["t"] for m in reps]
    assert ts == sorted(ts) and 4000 < ts[0] and ts[-1] < 26000
    assert b.app.missed == 0


def _stall(every_ms, stall_ms):
    state = {"next": every_ms, "count": 0}

    def hook(board):
        if board.clock.now_ms >= state["next"]:
            state["next"] += every_ms
            state["count"] += 1
            board.clock.advance_us(stall_ms * 1000)   # BLE / GC pause
    return hook, state


def test_fifo_survives_stalls_without_loss():
    hook, st = _stall(1500, 400)
    b = Board("LSM6DSOX", synth.samples(MARCH),
              settings={"HIPFLEX_EXERCISE": "standing_march"})
    start = b.chip.produced
    b.run_until(26000, hook)
    assert st["count"] > 10
    assert b.app.missed == 0
    assert b.app.sample_count == b.chip.produced - start
    assert_same_reps(b.usb.messages("REP"), host_reps(MARCH, "standing_march"),
                     tol_ms=60)


def test_word_fifo_survives_stalls_without_loss():
    hook, st = _stall(1500, 400)
    b = Board("LSM6DS3TRC", synth.samples(MARCH),
              settings={"HIPFLEX_EXERCISE": "standing_march"})
    assert b.app.imu.fifo == "words"
    start = b.chip.produced
    b.run_until(26000, hook)
    assert st["count"] > 10
    assert b.app.missed == 0
    assert b.app.sample_count == b.chip.produced - start
    assert_same_reps(b.usb.messages("REP"), host_reps(MARCH, "standing_march"),
                     tol_ms=60)


@pytest.mark.parametrize("variant", ["LSM6DS3TRC", "LSM6DSOX"])
def test_fifo_overrun_realigns_and_counts_loss(variant):
    hook, st = _stall(3000, 4500)          # longer than the FIFO holds
    b = Board(variant, synth.samples([("rest", 30)]))
    fed = tap(b)
    start = b.chip.produced
    b.run_until(20000, hook)
    assert st["count"] >= 3
    truth = (b.chip.produced - start) - b.app.sample_count
    # an estimate from the time gap: the chip keeps overwriting while the
    # full FIFO is drained
    assert truth > 100 * st["count"]
    assert abs(b.app.missed - truth) <= 0.1 * truth + 2 * st["count"]
    assert b.app.imu.fifo_overruns >= st["count"] - 1   # the last one unread
    for s in fed:                          # every sample whole: |a| = 1 g
        assert 9.3 < (s[1] ** 2 + s[2] ** 2 + s[3] ** 2) ** 0.5 < 10.3, s
    ts = [s[0] for s in fed]
    assert all(b > a for a, b in zip(ts, ts[1:]))


def test_polling_counts_missed_samples_during_stalls():
    hook, st = _stall(1500, 400)
    b = Board("LSM6DS33", synth.samples(MARCH),
              settings={"HIPFLEX_EXERCISE": "standing_march", "HIPFLEX_FIFO": 0})
    assert b.app.imu.fifo is None
    start = b.chip.produced
    b.run_until(26000, hook)
    truth = (b.chip.produced - start) - b.app.sample_count
    assert truth > 30 * st["count"]
    assert abs(b.app.missed - truth) <= st["count"]
    b.usb.send("status\n")
    b.run_for(10)
    assert b.usb.messages("ST")[-1]["miss"] == b.app.missed


# ------------------------------------------------------------------ protocol

def _signed(b, end, name, *args, secret=SECRET):
    end.clear()
    end.send("nonce\n")
    b.run_for(5)
    nonce = end.messages("NONCE")[-1]["nonce"]
    line = P.sign_command(secret, b.app.dev, nonce, name, *args)
    end.send(line)
    b.run_for(5)
    return line


def test_hello_replay_and_end_over_usb():
    b = Board("ISM330DHCX", synth.samples(MARCH),
              settings={"HIPFLEX_EXERCISE": "standing_march"})
    b.run_until(26000)
    live = b.usb.messages("REP")
    b.usb.clear()
    b.usb.send("hello\n")
    b.run_for(5)
    h = b.usb.messages("HELLO")[-1]
    assert h["v"] == 1 and h["dev"] == "5f3a91c2" and h["chip"] == "ISM330DHCX"
    assert h["first"] == 1 and h["last"] == 1 + len(live) and h["cap"] == 256
    assert h["auth"] == "none" and h["name"] == "hipflex-91C2"
    b.usb.clear()
    b.usb.send("replay 3\n")
    b.run_for(20)
    evs = b.usb.messages("REP")
    assert [m["seq"] for m in evs] == list(range(4, 2 + len(live)))
    assert evs == live[2:]
    end = b.usb.messages("END")[-1]
    assert end["n"] == len(live) - 2 and end["last"] == 1 + len(live)
    b.usb.clear()
    b.usb.send("replay %d\n" % (1 + len(live)))
    b.run_for(5)
    assert b.usb.messages("END")[-1]["n"] == 0


def test_ble_link_chunks_and_reassembles():
    b = Board("LSM6DS33", synth.samples(MARCH),
              settings={"HIPFLEX_EXERCISE": "standing_march"})
    b.run_for(50)
    assert b.radio.advertising and b.radio.adverts == 1
    b.run_until(12000)                 # reps while nobody listens over BLE
    assert b.uart.out == bytearray()
    b.radio.connect_central()
    b.run_for(10)
    assert b.ble.messages("HELLO")     # greeted on connect
    b.ble.send("replay 0\n")           # 20-byte writes from the central
    b.run_for(50)
    reps = b.ble.messages("REP")
    assert len(reps) >= 4
    assert max(b.uart.write_sizes) <= P.NOTIFY_BYTES
    b.run_until(26000)
    # replayed + live over BLE = every rep the board counted
    seqs = [m["seq"] for m in b.ble.messages("REP")]
    assert seqs == sorted(set(seqs))
    assert seqs == [m["seq"] for m in b.usb.messages("REP")]
    assert len(seqs) > len(reps)
    b.radio.disconnect()
    b.run_for(10)
    assert b.radio.advertising and b.radio.adverts == 2


def test_authenticated_commands():
    b = Board("LSM6DSOX", synth.samples(MARCH),
              settings={"HIPFLEX_SECRET": SECRET})
    b.run_for(100)
    u = b.usb
    assert u.messages("HELLO")[-1]["auth"] == "hmac-sha256"
    # without proof: refused, nothing changes
    u.clear()
    u.send("ex lunge\n")
    u.send("new\n")
    b.run_for(5)
    errs = u.messages("ERR")
    assert [(e["cmd"], e["code"]) for e in errs] == [("ex", "nonce"), ("new", "nonce")]
    assert b.app.exercise == "auto" and b.app.set_no == 1
    # with proof
    line = _signed(b, u, "ex", "lunge")
    assert u.messages("OK")[-1]["cmd"] == "ex"
    assert b.app.exercise == "lunge" and b.app.set_no == 2
    assert b.app.det.params["min_rep_ms"] == 500
    ex = u.messages("EX")[-1]
    assert ex["ex"] == "lunge"
    assert u.messages("SET")[-1]["set"] == 2
    # replaying the captured line fails
    u.clear()
    u.send(line)
    b.run_for(5)
    assert u.messages("ERR")[-1]["code"] == "nonce"
    # a wrong secret fails
    _signed(b, u, "new", secret="not-the-owner-secret")
    assert u.messages("ERR")[-1]["code"] == "auth" and b.app.set_no == 2
    # nonce from USB does not authorise BLE
    u.clear()
    u.send("nonce\n")
    b.run_for(5)
    nonce = u.messages("NONCE")[-1]["nonce"]
    b.radio.connect_central()
    b.run_for(5)
    b.ble.send(P.sign_command(SECRET, b.app.dev, nonce, "new"))
    b.run_for(5)
    assert b.ble.messages("ERR")[-1]["code"] == "nonce"
    # parameters, erase, reset
    _signed(b, u, "set", "min_rom_deg", "33")
    assert b.app.det.params["min_rom_deg"] == 33
    p = u.messages("PARAM")[-1]
    assert p["key"] == "min_rom_deg" and p["val"] == 33
    _signed(b, u, "set", "nonsense", "3")
    assert u.messages("ERR")[-1]["code"] == "range"
    _signed(b, u, "erase")
    assert len(b.app.ring) == 0
    _signed(b, u, "reset")
    assert b.resets == 1 and u.messages("OK")[-1]["cmd"] == "reset"


def test_no_secret_refuses_changes():
    b = Board("LSM6DS33", synth.samples(MARCH))
    b.run_for(10)
    _signed(b, b.usb, "new", secret="anything-at-all-here")
    assert b.usb.messages("ERR")[-1]["code"] == "nosecret"
    assert b.app.set_no == 1


def test_raw_streaming():
    b = Board("LSM6DS33", synth.samples(MARCH))
    b.run_for(100)
    b.usb.send("raw on 2\n")
    b.run_for(1000)
    b.usb.send("raw off\n")
    b.run_for(20)
    raws = b.usb.messages("R")
    assert 45 <= len(raws) <= 56        # every 2nd sample of ~104 in 1 s
    ts = [r["t"] for r in raws]
    assert ts == sorted(ts)
    for r in raws:                      # standing still: ~1 g
        a = sum(x * x for x in r["acc"]) ** 0.5
        assert 9.3 < a < 10.3
    n = len(b.usb.messages("R"))
    b.run_for(300)
    assert len(b.usb.messages("R")) == n


def test_ring_keeps_256_events_while_disconnected():
    b = Board("LSM6DS33", synth.samples(MARCH), ble=True)
    b.serial.connected = False
    for i in range(300):
        b.app.new_set(b.fw_clock.now_ms())
    assert len(b.app.ring) == 256 and b.app.ring.last_seq == 301
    b.serial.connected = True
    b.run_for(10)
    b.usb.clear()
    b.usb.send("replay 0\n")
    b.run_for(200)
    sets = b.usb.messages("SET")
    assert [m["seq"] for m in sets] == list(range(46, 302))
    assert sets[-1]["prev"] == 0 and sets[-1]["set"] == 301
    end = b.usb.messages("END")[-1]
    assert end["first"] == 46 and end["n"] == 256


def test_status_is_periodic_when_connected():
    b = Board("LSM6DS33", synth.samples(MARCH))
    b.run_until(11000)
    st = b.usb.messages("ST")
    assert len(st) == 2
    assert st[0]["bat"] == -1 and st[0]["cap"] == 256 and st[0]["ex"] == "auto"


# ------------------------------------------------------------------ UI

def test_buttons_new_set_and_cycle_exercise():
    b = Board("LSM6DS33", synth.samples(MARCH))
    b.run_for(100)
    b.press(b.pin_a, 100)                 # short: new set
    assert b.app.set_no == 2
    assert b.usb.messages("SET")[-1]["set"] == 2
    b.press(b.pin_a, 1000)                # long: next exercise (+ new set)
    assert b.app.exercise == profiles.NAMES[1]
    assert b.usb.messages("EX")[-1]["ex"] == profiles.NAMES[1]
    b.press(b.pin_b, 100)                 # CLUE button B: next exercise
    assert b.app.exercise == profiles.NAMES[2]
    b.press(b.pin_a, 10)                  # bounce: ignored
    assert b.app.set_no == 4


def test_led_and_screen_follow_reps_and_holds():
    plan = [("rest", 4), ("reps", 3, 70, 0.8, 6.0, 0.8, 2.5), ("rest", 3)]
    b = Board("LSM6DSOX", synth.samples(plan),
              settings={"HIPFLEX_EXERCISE": "standing_knee_hold"})
    b.run_until(4 + int(1000 * synth.timeline(plan)[2]))
    reps = b.usb.messages("REP")
    assert_same_reps(reps, host_reps(plan, "standing_knee_hold"), tol_ms=60)
    held = [r for r in reps if r["hold"] >= 5000]
    assert held
    fb = b.app.feedback
    assert fb.target_signals == len(held)  # target hold (5 s) reached
    k = b.app.feedback.led.brightness / 255.0
    hist = b.pixel.history
    assert feedback._scale(feedback.GREEN, k) in hist
    assert feedback._scale(feedback.WHITE, k) in hist
    assert any(c[2] > 0 and c[0] == 0 and c[1] < c[2] for c in hist)  # blue ramp
    shown = b.screen.shown
    assert shown[-1][0] == len(reps) and shown[-1][2] == "standing_knee_hold"
    assert max(s[1] for s in shown) >= 5000


# ------------------------------------------------------------------ misc

def test_settings_validation():
    c = Config({"HIPFLEX_RATE_HZ": 100, "HIPFLEX_EXERCISE": "yoga",
                "HIPFLEX_MIN_ROM_DEG": "x", "HIPFLEX_ENTRY_DEG": 9,
                "HIPFLEX_IMU": "BMI270", "HIPFLEX_SECRET": "short"}.get)
    assert c.rate_hz == 104 and c.exercise == "auto" and c.imu is None
    assert c.overrides == {"entry_deg": 9}
    assert c.params("lunge")["entry_deg"] == 9
    assert len(c.warnings) == 5


def test_selftest_on_emulated_board():
    import selftest
    b = Board("LSM6DS3TRC", synth.samples(MARCH))
    lines = []
    res = selftest.run({"i2c": b.i2c, "clock": b.fw_clock, "links": [b.usb_link],
                        "settings": {}}, seconds=2, out=lines.append,
                       now_us=lambda: b.clock.now_us)
    assert res["chip"] == "LSM6DS3TRC"
    assert 100 <= res["rate_hz"] <= 108
    assert res["read_us"] > 0 and res["links"] == [("usb", True, True)]
    assert any("sample rate" in ln for ln in lines)


# ------------------------------------------------------------------ fuzzing

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_FUZZ = {}


def _fuzz_board():
    if "b" not in _FUZZ:
        b = Board("LSM6DS33", [], settings={"HIPFLEX_SECRET": SECRET})
        b.run_for(20)
        _FUZZ["b"] = b
        _FUZZ["ring"] = (len(b.app.ring), b.app.ring.last_seq, bytes(b.app.ring._buf))
    return _FUZZ["b"]


_tokens = st.sampled_from(["hello", "replay", "nonce", "raw", "ex", "set",
                           "new", "erase", "reset", "mac=" + "0" * 32, "on",
                           "lunge", "-1", "99999999999", "min_rom_deg", " ",
                           "\r", "\n", "\x00", "\xff", "=", "mac="])
_lines = st.lists(_tokens, max_size=12).map(lambda t: " ".join(t).encode("latin-1"))


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=300), _lines), max_size=8))
def test_fuzzed_input_never_crashes_or_touches_the_buffer(chunks):
    b = _fuzz_board()
    for c in chunks:
        b.serial.host_send(c)
        b.ble.stream.host_send(c)
        b.app.step()
    b.serial.host_send(b"\n")
    b.app.step()
    n, last, raw = _FUZZ["ring"]
    ring = b.app.ring
    assert (len(ring), ring.last_seq, bytes(ring._buf)) == (n, last, raw)
    assert b.resets == 0 and b.app.set_no == 1
    for ln in b.usb.rx.feed(bytes(b.serial.out)):
        P.decode(ln)                 # every reply is a well-formed message
    del b.serial.out[:]
    assert b.app.links[0].rx.pending <= P.MAX_LINE + 1
