"""End to end over a real pseudo-terminal: the firmware App on emulated
hardware (LSM6DS register model fed by a recording, emulated clock, its USB
link bridged to the pty master) on the device end; the real ``hipflex sync``
process (pyserial on the pty slave) writing a real SQLite file on the host
end. Faults are injected on the link; every test asserts the exact rows."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("adafruit_lsm6ds")
pytest.importorskip("adafruit_bus_device")

import emulation  # noqa: E402,F401  (puts firmware/ on sys.path)
from emulation.harness import Board  # noqa: E402

from hipflex import recording  # noqa: E402
from hipflex.analyze import run_detector  # noqa: E402
from hipflex.core import profiles  # noqa: E402
from hipflex.core import protocol as P  # noqa: E402
from hipflex.sync.emulator import PtyLink  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REC = os.path.join(ROOT, "recordings", "supine_march_02_104hz.csv")
EXERCISE = "supine_march"
SECRET = "correct-horse-battery-staple-42"
DEV = "5f3a91c2"


class EmulatedBle:
    """Host-side Transport over the board's emulated radio (BLE UART): the
    same session code as over bleak, minus the radio."""

    label = "ble:emulated"

    def __init__(self, dev):
        self.dev = dev

    async def open(self):
        self.dev.call(lambda d: d.board.radio.connect_central())

    async def read(self):
        import asyncio
        while True:
            with self.dev._lock:
                if self.dev.ble_out:
                    return self.dev.ble_out.pop(0)
            if not self.dev.board.radio.connected:
                from hipflex.sync.session import LinkLost
                raise LinkLost("radio disconnected")
            await asyncio.sleep(0.002)

    async def write(self, data):
        for piece in P.chunks(bytes(data), P.NOTIFY_BYTES):
            with self.dev._lock:
                self.dev.ble_in += piece

    async def close(self):
        self.dev.call(lambda d: d.board.radio.disconnect())


class FirmwareOnPty:
    """The firmware App, its USB data port bridged to a pty master, run in a
    thread at ``speed`` x real time. ``call(fn)`` runs ``fn(self)`` on that
    thread (fault injection); ``filter(data) -> data`` may rewrite outgoing
    bytes; ``sent`` logs (time.time(), line) of event lines written."""

    def __init__(self, path, samples=(), settings=None, speed=25.0, seed=7):
        self.settings = dict({"HIPFLEX_EXERCISE": EXERCISE}, **(settings or {}))
        self.board = Board("LSM6DS33", list(samples), settings=self.settings, seed=seed)
        self.link = PtyLink(path)
        self.speed = speed
        self.filter = None
        self.sent = []
        self.raw_sent = []
        self.ble_in = bytearray()     # host -> board over the emulated radio
        self.ble_out = []             # board -> host notifications (<= 20 bytes each)
        self.received = bytearray()
        self._calls = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rx = P.LineReassembler()
        self.fed = []                 # every sample the firmware gave its detector
        self._tap()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tap(self):
        det = self.board.app.det
        real = det.update
        fed = self.fed

        def update(*smp):
            fed.append(smp)
            return real(*smp)
        det.update = update

    @property
    def app(self):
        return self.board.app

    def call(self, fn, timeout=10.0):
        box = []
        ev = threading.Event()
        with self._lock:
            self._calls.append((fn, box, ev))
        if not ev.wait(timeout):
            raise AssertionError("device thread stuck")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.link.down()

    def events(self):
        """Every event the device holds now: (boot, seq, line)."""
        return self.call(lambda d: [(d.app.boot, r[3], P.format_event(r, d.app.dev, d.app.boot)
                                     .rstrip("\n")) for r in d.app.ring.after(0)])

    # device-thread helpers (call through ``call``)
    def link_down(self):
        self.board.serial.connected = False
        self.board.run_for(2)
        self.link.down()

    def link_up(self):
        self.link.up()
        self.board.serial.connected = True

    def reboot(self, seed):
        """Restart the firmware: new App (new boot id, empty ring), same
        device id, the rest of the recording still to come."""
        chip = self.board.chip
        rest = chip.samples[chip._next:] if chip is not None else []
        now = self.board.clock.now_ms
        old = self.board
        self.board = Board("LSM6DS33", [(s[0] - now,) + tuple(s[1:]) for s in rest],
                           settings=self.settings, seed=seed)
        self.board.serial.connected = old.serial.connected

    def _run(self):
        import select
        t0 = time.monotonic()
        emu0 = self.board.clock.now_ms
        while not self._stop.is_set():
            with self._lock:
                calls, self._calls = self._calls, []
            for fn, box, ev in calls:
                try:
                    box.append(fn(self))
                except BaseException as e:   # handed to the caller
                    box.append(e)
                ev.set()
                t0 = time.monotonic()
                emu0 = self.board.clock.now_ms
            b = self.board
            if self.link.is_up:
                try:
                    data = os.read(self.link.master, 4096)
                except (BlockingIOError, InterruptedError):
                    data = b""
                except OSError:
                    data = b""
                if data:
                    self.received += data
                    b.serial.host_send(data)
            target = emu0 + int((time.monotonic() - t0) * 1000 * self.speed)
            if b.clock.now_ms < target:
                b.run_until(min(target, b.clock.now_ms + 50))
            if b.radio.connected:
                with self._lock:
                    inb, self.ble_in = self.ble_in, bytearray()
                if inb:
                    b.uart.host_send(bytes(inb))
                if b.uart.out:
                    with self._lock:
                        self.ble_out.append(bytes(b.uart.out))
                    del b.uart.out[:]
            out = bytes(b.serial.out)
            del b.serial.out[:]
            if out and self.link.is_up:
                if self.filter is not None:
                    out = self.filter(out)
                self.link.send(out)
                now = time.time()
                for ln in self._rx.feed(out):
                    kind = ln.split(" ", 1)[0]
                    if kind in P.EVENT_TYPES:
                        self.sent.append((now, ln))
                    elif kind == "R":
                        self.raw_sent.append(ln)
            if self.link.is_up:
                select.select([self.link.master], [], [], 0.001)
            else:
                time.sleep(0.001)


# -- host side ------------------------------------------------------------------

def host_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "host") + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def start_sync(port, db, *more, **env):
    return subprocess.Popen([sys.executable, "-m", "hipflex", "sync", "--serial", port,
                             "--db", db] + list(more),
                            env=host_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop_sync(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    return proc.returncode, out, err


def db_events(db):
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(db, timeout=5)
    try:
        return con.execute(
            "SELECT b.boot, e.seq, e.raw FROM events e JOIN boots b ON b.id = e.boot "
            "ORDER BY b.id, e.seq").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def db_rows(db, q):
    con = sqlite3.connect(db, timeout=5)
    try:
        return con.execute(q).fetchall()
    finally:
        con.close()


def wait_for(cond, timeout=20.0, what="condition"):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def wait_synced(dev, db, timeout=20.0):
    """Until the database holds exactly what the device holds."""
    def same():
        want = dev.events()
        got = db_events(db)
        return got if got and got[-len(want):] == want else None
    return wait_for(same, timeout, "the database to hold the device's events")


def assert_consistent(db):
    """Every REP event has exactly its reps row and nothing else does."""
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ev = con.execute("SELECT boot, seq FROM events WHERE kind = 'rep' ORDER BY boot, seq")
        reps = con.execute("SELECT boot, seq FROM reps ORDER BY boot, seq")
        assert ev.fetchall() == reps.fetchall()
        for boot, acked in con.execute("SELECT id, acked_seq FROM boots"):
            stored = {s for (s,) in con.execute("SELECT seq FROM events WHERE boot = ?", (boot,))}
            lost = set()
            for lo, hi in con.execute("SELECT first_seq, last_seq FROM gaps WHERE boot = ?",
                                      (boot,)):
                lost |= set(range(lo, hi + 1))
            assert not stored & lost
            assert set(range(1, acked + 1)) <= stored | lost
    finally:
        con.close()


@pytest.fixture
def rec():
    return recording.read(REC)


@pytest.fixture
def port(tmp_path):
    return str(tmp_path / "ttyHIPFLEX")


@pytest.fixture
def devices():
    made = []
    yield made
    for d in made:
        d.stop()


def stored_reps(db):
    """Reps stored so far (0 while the sync process is still creating the file)."""
    try:
        return db_rows(db, "SELECT COUNT(*) FROM reps")[0][0] if os.path.exists(db) else 0
    except sqlite3.OperationalError:
        return 0


def rep_rows(db):
    return db_rows(db, "SELECT r.seq, r.t_ms, r.start_ms, r.peak_ms, r.rom_deg, r.hold_ms, "
                       "r.exercise, r.set_no, r.n FROM reps r ORDER BY r.boot, r.seq")


def rows_from_lines(lines):
    out = []
    for ln in lines:
        m = P.decode(ln)
        if m["type"] == "REP":
            out.append((m["seq"], m["t"], m["start"], m["peak"], m["rom"], m["hold"], m["ex"],
                        m["set"], m["n"]))
    return out


# -- tests ----------------------------------------------------------------------

def test_end_to_end_stored_reps_match_analyze(rec, port, tmp_path, devices):
    db = str(tmp_path / "h.db")
    dev = FirmwareOnPty(port, rec.samples(), speed=40.0)
    devices.append(dev)
    proc = start_sync(port, db)
    try:
        end_ms = int(rec.t[-1] * 1000) + 1500
        wait_for(lambda: dev.call(lambda d: d.board.clock.now_ms) > end_ms, 30, "the recording")
        evs = wait_synced(dev, db)
    finally:
        rc, out, err = stop_sync(proc)
    assert rc == 0, err
    lines = [e[2] for e in dev.events()]
    assert [e[2] for e in evs] == lines
    assert rep_rows(db) == rows_from_lines(lines)
    assert db_rows(db, "SELECT COUNT(*) FROM gaps") == [(0,)]
    assert_consistent(db)
    # Same reps as hipflex analyze finds on the recording. Exactly, on the
    # samples as the board's sensor delivered them (16-bit quantised, on the
    # board's sample clock), saved in the recording format:
    fed = dev.call(lambda d: list(d.fed))
    seen = str(tmp_path / "as_sampled.csv")
    recording.write(seen, [s[0] / 1000.0 for s in fed], [s[1:4] for s in fed],
                    [s[4:7] for s in fed], decimals=12)
    exact = run_detector(recording.read(seen), profiles.get(EXERCISE))
    assert [(r.end_ms, r.start_ms, r.peak_ms, round(r.rom_deg, 1), r.hold_ms) for r in exact] \
        == [(t, start, peak, rom, hold) for _, t, start, peak, rom, hold, _, _, _ in rep_rows(db)]
    # ...and the same count as on the source recording, with times within a
    # few samples (tolerances as in the firmware's comparison with the host).
    want = run_detector(rec, profiles.get(EXERCISE))
    got = rep_rows(db)
    assert len(got) == len(want) > 3
    t0 = int(round(rec.t[0] * 1000))
    for row, r in zip(got, want):
        seq, t, start, peak, rom, hold, ex, set_no, n = row
        assert ex == EXERCISE and set_no == 1
        assert abs(t - (r.end_ms - t0)) <= 45, (row, r)
        assert abs(start - (r.start_ms - t0)) <= 135, (row, r)
        assert abs(rom - r.rom_deg) <= 5.0, (row, r)
    assert [row[8] for row in got] == list(range(1, len(got) + 1))
    # The status reports were kept.
    assert db_rows(db, "SELECT COUNT(*) > 0, MIN(buffer_cap) FROM status") == [(1, 256)]
    assert "synced: %d new events" % len(lines) in err


def test_link_dropped_mid_set_and_reconnected(rec, port, tmp_path, devices):
    db = str(tmp_path / "h.db")
    dev = FirmwareOnPty(port, rec.samples(), speed=25.0)
    devices.append(dev)
    proc = start_sync(port, db)
    try:
        # Wait for the third rep to be stored, then pull the cable while the
        # set goes on (reps 4..6 happen with nobody listening).
        wait_for(lambda: stored_reps(db) >= 3, 20, "3 reps")
        dev.call(FirmwareOnPty.link_down)
        n_down = stored_reps(db)
        wait_for(lambda: dev.call(lambda d: d.app.det.count) >= n_down + 2, 20, "reps offline")
        dev.call(FirmwareOnPty.link_up)
        end_ms = int(rec.t[-1] * 1000) + 1500
        wait_for(lambda: dev.call(lambda d: d.board.clock.now_ms) > end_ms, 30, "the recording")
        evs = wait_synced(dev, db)
    finally:
        rc, out, err = stop_sync(proc)
    assert rc == 0, err
    lines = [e[2] for e in dev.events()]
    assert [e[2] for e in evs] == lines          # every event once, in seq order
    assert len(rows_from_lines(lines)) == len(run_detector(rec, profiles.get(EXERCISE)))
    assert rep_rows(db) == rows_from_lines(lines)
    assert db_rows(db, "SELECT COUNT(*) FROM gaps") == [(0,)]
    assert "link lost" in err
    assert_consistent(db)


def test_duplicate_reordered_replays_and_line_garbage(port, tmp_path, devices):
    db = str(tmp_path / "h.db")
    dev = FirmwareOnPty(port, (), speed=25.0)
    devices.append(dev)
    # 12 reps recorded before any host connects.
    def reps(d):
        for i in range(12):
            d.app._on_rep(_Rep(1000 + 2000 * i, 30.0 + i, 500 * (i % 3)))
    dev.call(reps)

    def mangle(data):
        # Each batch with events goes out three times: as is, with its lines
        # reversed, and again; garbage of every kind is mixed in.
        lines = data.split(b"\n")
        tail = lines.pop()
        if not any(ln.split(b" ", 1)[0] in (b"REP", b"BOOT", b"SET") for ln in lines):
            return data
        junk = [b"\x00\xff\xfe garbage \x80", b"REP dev=5f3a91c2 boot=zz seq=",
                b"X" * 500, b"ST dev=5f3a91c2", b"REP " + b"k=v " * 60,
                b"REP dev=5f3a91c2 boot=00000000 seq=notanumber t=1"]
        out = []
        for i, ln in enumerate(lines):
            out += [ln, junk[i % len(junk)]]
        out += list(reversed(lines)) + lines
        return b"\n".join(out) + b"\n" + tail
    dev.filter = mangle
    proc = start_sync(port, db)
    try:
        evs = wait_synced(dev, db)
        # Live: one more rep, whose line is cut short on the wire; the
        # host must notice the hole and ask for it again.
        def cut(data):
            if b"REP " not in data:
                return data
            dev.filter = None          # one line only
            return data.replace(b" hold=", b" hold=\n", 1)
        dev.filter = cut
        dev.call(lambda d: d.app._on_rep(_Rep(40000, 55.5, 0)))
        wait_for(lambda: dev.filter is None, 10, "the cut line")
        dev.call(lambda d: d.app._on_rep(_Rep(43000, 56.5, 0)))
        evs = wait_synced(dev, db)
    finally:
        rc, out, err = stop_sync(proc)
    assert rc == 0, err
    lines = [e[2] for e in dev.events()]
    assert len(lines) == 15 and [e[2] for e in evs] == lines
    assert rep_rows(db) == rows_from_lines(lines)
    assert [r[4] for r in rep_rows(db)] == [30.0 + i for i in range(12)] + [55.5, 56.5]
    m = re.search(r"synced: 15 new events, (\d+) duplicates ignored, 0 lost, (\d+) malformed", err)
    assert m and int(m.group(1)) >= 2 * 13 and int(m.group(2)) >= 13, err
    assert db_rows(db, "SELECT COUNT(*) FROM gaps") == [(0,)]
    assert_consistent(db)


class _Rep:
    """A rep handed to the board application directly (its fields as the
    core's Rep has them; index 0: not from this board's detector)."""

    def __init__(self, end, rom, hold):
        self.start_ms, self.peak_ms, self.end_ms = end - 1200, end - 600, end
        self.rom_deg, self.hold_ms = rom, hold
        self.index = 0


def test_device_reboot_starts_a_new_boot(port, tmp_path, devices):
    db = str(tmp_path / "h.db")
    dev = FirmwareOnPty(port, (), speed=25.0, seed=7)
    devices.append(dev)
    dev.call(lambda d: [d.app._on_rep(_Rep(1000 + 2000 * i, 40.0 + i, 0)) for i in range(3)])
    proc = start_sync(port, db)
    try:
        first = wait_synced(dev, db)
        boot1 = dev.call(lambda d: d.app.boot)

        def reboot(d):
            d.link_down()
            d.reboot(seed=11)
            d.link_up()
            for i in range(2):
                d.app._on_rep(_Rep(5000 + 2000 * i, 60.0 + i, 0))
        dev.call(reboot)
        boot2 = dev.call(lambda d: d.app.boot)
        assert boot2 != boot1
        wait_for(lambda: len(db_events(db)) == len(first) + 3, 20, "the second boot")
    finally:
        rc, out, err = stop_sync(proc)
    assert rc == 0, err
    evs = db_events(db)
    assert [(b, s) for b, s, _ in evs] == [(boot1, 1), (boot1, 2), (boot1, 3), (boot1, 4),
                                           (boot2, 1), (boot2, 2), (boot2, 3)]
    assert [e[2] for e in evs[4:]] == [e[2] for e in dev.events()]
    assert db_rows(db, "SELECT b.boot, r.seq, r.rom_deg FROM reps r JOIN boots b "
                       "ON b.id = r.boot ORDER BY r.id") == [
        (boot1, 2, 40.0), (boot1, 3, 41.0), (boot1, 4, 42.0), (boot2, 2, 60.0), (boot2, 3, 61.0)]
    assert db_rows(db, "SELECT COUNT(*) FROM gaps") == [(0,)]
    assert_consistent(db)


def test_ring_overflow_while_disconnected_is_a_gap(port, tmp_path, devices):
    db = str(tmp_path / "h.db")
    dev = FirmwareOnPty(port, (), speed=25.0)
    devices.append(dev)
    dev.call(lambda d: [d.app._on_rep(_Rep(1000 + 2000 * i, 40.0, 0)) for i in range(4)])
    proc = start_sync(port, db)
    try:
        wait_synced(dev, db)            # seq 1..5 stored
        def away(d):
            d.link_down()
            for i in range(300):        # 300 new sets while nobody listens
                d.app.new_set(d.board.clock.now_ms)
            d.link_up()
        dev.call(away)
        evs = wait_synced(dev, db)
    finally:
        rc, out, err = stop_sync(proc)
    assert rc == 0, err
    # seq 6..49 were overwritten in the 256-event ring before the host came back.
    held = dev.events()
    assert held[0][1] == 50 and held[-1][1] == 305
    assert [s for _, s, _ in db_events(db)] == list(range(1, 6)) + list(range(50, 306))
    assert db_rows(db, "SELECT first_seq, last_seq, reason FROM gaps") == [
        (6, 49, "overwritten in the device buffer before sync")]
    assert db_rows(db, "SELECT acked_seq FROM boots") == [(305,)]
    assert "gap: 44 events" in err
    assert_consistent(db)


def test_sync_killed_during_a_write_then_rerun_completes(port, tmp_path, devices):
    db = str(tmp_path / "h.db")
    dev = FirmwareOnPty(port, (), speed=25.0)
    devices.append(dev)
    dev.call(lambda d: [d.app._on_rep(_Rep(1000 + 2000 * i, 20.0 + i, 100 * i))
                        for i in range(40)])
    # The process kills itself (SIGKILL) inside a transaction, after
    # inserting 31 rows of the catch-up.
    proc = start_sync(port, db, HIPFLEX_FAULT_KILL_AFTER_ROWS="31")
    rc, out, err = proc.wait(20), None, None
    assert rc == -signal.SIGKILL
    assert_consistent(db)
    part = db_events(db)
    held = dev.events()
    assert len(part) < len(held) and part == held[:len(part)]
    proc = start_sync(port, db, "--once")
    rc, out, err = proc.wait(20), proc.stdout.read(), proc.stderr.read()
    assert rc == 0, err
    assert db_events(db) == held
    assert rep_rows(db) == rows_from_lines([e[2] for e in held])
    assert_consistent(db)


def test_same_device_over_usb_and_ble_at_once(rec, port, tmp_path, devices):
    import asyncio
    from hipflex.sync.session import Session
    from hipflex.sync.store import Store
    db = str(tmp_path / "h.db")
    dev = FirmwareOnPty(port, rec.samples(), speed=25.0)
    devices.append(dev)
    proc = start_sync(port, db)                       # USB, another process
    end_ms = int(rec.t[-1] * 1000) + 1500

    async def ble_side():
        with Store(db) as store:
            s = Session(store, EmulatedBle(dev), backoff=(0.01, 0.1))
            task = asyncio.ensure_future(s.run())
            while dev.call(lambda d: d.board.clock.now_ms) <= end_ms:
                await asyncio.sleep(0.05)
            while True:                               # until both are idle
                await asyncio.sleep(0.3)
                want = dev.events()
                if db_events(db)[-len(want):] == want:
                    break
            s.stop()
            await task
            return s.state

    try:
        ble = asyncio.run(asyncio.wait_for(ble_side(), 60))
    finally:
        rc, out, err = stop_sync(proc)
    assert rc == 0, err
    lines = [e[2] for e in dev.events()]
    assert [e[2] for e in db_events(db)] == lines
    assert rep_rows(db) == rows_from_lines(lines)
    assert db_rows(db, "SELECT COUNT(*) FROM devices") == [(1,)]
    # Whichever link delivered an event first stored it; the other one's copy
    # (both replay on connect, both get live events) was a duplicate.
    m = re.search(r"synced: (\d+) new events?, (\d+) duplicates? ignored", err)
    usb_new, usb_dup = int(m.group(1)), int(m.group(2))
    assert usb_new + ble.stored == len(lines)
    assert usb_dup + ble.duplicates >= 1
    assert_consistent(db)
