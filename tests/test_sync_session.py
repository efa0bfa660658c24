"""The sync loop against an in-process link that behaves like BLE at its
worst: lines cut at arbitrary byte boundaries (notifications) and the
connection dropped at random points, with the workout going on meanwhile.
The bleak layer itself is checked against a stand-in client."""

import asyncio
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hipflex.core import protocol as P
from hipflex.sync import transport_ble
from hipflex.sync.emulator import EmulatedBoard
from hipflex.sync.session import LinkLost, Session, Transport
from hipflex.sync.store import Store


class ChoppyLink(Transport):
    """Board <-> host link. Outgoing bytes are delivered in chunks whose sizes
    cycle through ``sizes``; after ``drops[i]`` bytes of connection i the link
    drops (bytes in flight are lost). Each read lets the board do one step
    of ``workout`` (adding live events) while connected."""

    label = "choppy"

    def __init__(self, board, sizes, drops, workout):
        self.board = board
        self.sizes = sizes
        self.drops = list(drops)
        self.workout = list(workout)
        self.out = bytearray()
        self.ra = P.LineReassembler()
        self.connected = False
        self.budget = None
        self.k = 0
        self.opens = 0

    async def open(self):
        self.opens += 1
        self.out = bytearray()
        self.ra.reset()
        self.budget = self.drops.pop(0) if self.drops else None
        self.connected = True

    async def read(self):
        await asyncio.sleep(0)
        while True:
            if not self.connected:
                raise LinkLost("closed")
            if self.workout and self.k % 3 == 0:
                self.push(self.workout.pop(0)())
            if self.out:
                break
            await asyncio.sleep(0.001)
            if self.workout:
                self.push(self.workout.pop(0)())
        n = self.sizes[self.k % len(self.sizes)]
        self.k += 1
        if self.budget is not None:
            if self.budget <= 0:
                self.connected = False
                raise LinkLost("dropped")
            n = min(n, self.budget)
            self.budget -= n
        chunk = bytes(self.out[:n])
        del self.out[:n]
        return chunk

    def push(self, lines):
        if self.connected:
            self.out += "".join(lines).encode()

    async def write(self, data):
        if not self.connected:
            raise LinkLost("closed")
        for line in self.ra.feed(data):
            out, _ = self.board.command(line)
            self.push(out)

    async def close(self):
        self.connected = False


def stored(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT e.seq, e.raw FROM events e ORDER BY e.seq").fetchall()
    finally:
        con.close()


def board_events(board):
    return [(r[3], P.format_event(r, board.dev, board.boot).rstrip("\n"))
            for r in board.ring.after(0)]


async def sync_until(session, board, link, timeout=10.0):
    task = asyncio.ensure_future(session.run())
    t_end = asyncio.get_running_loop().time() + timeout
    try:
        while asyncio.get_running_loop().time() < t_end:
            await asyncio.sleep(0.002)
            if task.done():
                task.result()
            # (Drops still scheduled are moot once nothing is left to send.)
            if (not link.workout and session.caught_up and link.connected
                    and session.store.acked_seq(board.dev, board.boot) == board.ring.last_seq):
                return
        raise AssertionError("not caught up in %.0f s (acked %d of %d)" % (
            timeout, session.store.acked_seq(board.dev, board.boot), board.ring.last_seq))
    finally:
        session.stop()
        await asyncio.wait_for(task, 5)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(before=st.integers(0, 40),
       during=st.integers(0, 25),
       sizes=st.lists(st.integers(1, 64), min_size=1, max_size=12),
       drops=st.lists(st.integers(0, 1500), max_size=6))
def test_reassembly_and_reconnect_store_every_event_once(tmp_path_factory, before, during, sizes,
                                                         drops):
    db = str(tmp_path_factory.mktemp("s") / "h.db")
    board = EmulatedBoard(dev="0badcafe", capacity=256)
    t = [1000]

    def rep():
        t[0] += 1700
        return [board.rep(t[0], 20 + t[0] % 50, hold_ms=t[0] % 3 * 1000)]

    for _ in range(before):
        rep()
    workout = [rep] * during
    link = ChoppyLink(board, sizes, drops, workout)
    with Store(db) as store:
        session = Session(store, link, backoff=(0.001, 0.004), reply_timeout=0.5,
                          replay_timeout=1.0)
        asyncio.run(sync_until(session, board, link))
        assert store.gaps() == []
    # Exactly the board's events, each once, byte for byte as sent.
    assert stored(db) == board_events(board)
    assert len(board_events(board)) == 1 + before + during


def test_truncated_line_at_drop_is_replayed():
    # A connection that drops in the middle of a REP line: the partial line
    # is discarded (never half-parsed) and the event comes back on replay.
    board = EmulatedBoard(dev="0badcafe")
    for i in range(3):
        board.rep(2000 + 1000 * i, 40.0)
    hello_len = len(board.hello_line()) + len(board.status_line())
    replay_upto_mid_rep = hello_len + len(board_events(board)[0][1]) + 1 + 30
    link = ChoppyLink(board, [7], [replay_upto_mid_rep], [])
    import tempfile
    import os
    db = os.path.join(tempfile.mkdtemp(), "h.db")
    with Store(db) as store:
        session = Session(store, link, backoff=(0.001, 0.004), reply_timeout=0.5)
        asyncio.run(sync_until(session, board, link))
    assert link.opens == 2
    assert stored(db) == board_events(board)


# -- the bleak layer ----------------------------------------------------------

def test_notify_kwargs_follow_the_installed_bleak():
    def new_style(self, char, callback, *, bluez={}, cb={}, **kw):
        pass

    def old_style(self, char, callback, **kw):
        pass

    assert transport_ble.notify_kwargs(new_style) == {"bluez": {"use_start_notify": True}}
    assert transport_ble.notify_kwargs(old_style) == {}
    # The bleak installed here (>= 2.1) takes the BlueZ argument.
    assert transport_ble.notify_kwargs() == {"bluez": {"use_start_notify": True}}


def test_ble_transport_with_stand_in_client(monkeypatch):
    calls = []

    class FakeClient:
        def __init__(self, device, disconnected_callback=None, **kw):
            self.device = device
            self.lost = disconnected_callback

        async def connect(self):
            calls.append(("connect", self.device))

        async def start_notify(self, uuid, cb, *, bluez={}, **kw):
            calls.append(("notify", uuid, dict(kw, bluez=bluez)))
            self.cb = cb

        async def write_gatt_char(self, uuid, data, response=None):
            calls.append(("write", uuid, bytes(data), response))

        async def disconnect(self):
            calls.append(("disconnect",))

    import bleak
    monkeypatch.setattr(bleak, "BleakClient", FakeClient)

    async def main():
        tr = transport_ble.BleTransport("hipflex-91c2")

        async def find():
            return "DEV"
        tr._find = find
        await tr.open()
        await tr.write(b"set min_rom_deg 15 mac=0123456789abcdef0123456789abcdef\n")
        tr.client.cb(None, bytearray(b"HELLO v=1 "))
        tr.client.cb(None, bytearray(b"fw=0.1.0\n"))
        got = [await tr.read(), await tr.read()]
        tr.client.lost(tr.client)
        try:
            await tr.read()
            raise AssertionError("no LinkLost")
        except LinkLost:
            pass
        await tr.close()
        return got

    got = asyncio.run(main())
    assert got == [b"HELLO v=1 ", b"fw=0.1.0\n"]
    assert calls[0] == ("connect", "DEV")
    assert calls[1] == ("notify", transport_ble.NUS_TX, {"bluez": {"use_start_notify": True}})
    writes = [c[2] for c in calls if c[0] == "write"]
    assert all(len(w) <= 20 for w in writes) and len(writes) == 3
    assert b"".join(writes) == b"set min_rom_deg 15 mac=0123456789abcdef0123456789abcdef\n"
    assert all(c[1] == transport_ble.NUS_RX and c[3] is False for c in calls if c[0] == "write")
    assert calls[-1] == ("disconnect",)


def test_database_error_stops_the_session_with_a_user_error(tmp_path):
    # A database that stays locked is not a link problem: no endless
    # reconnecting, one clear error instead.
    import pytest
    from hipflex.errors import UserError
    db = str(tmp_path / "h.db")
    board = EmulatedBoard(dev="0badcafe")
    board.rep(2000, 40.0)
    with Store(db, timeout_s=0.2) as store:
        store.note_device("0badcafe")
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            link = ChoppyLink(board, [64], [], [])
            session = Session(store, link, backoff=(0.001, 0.004), reply_timeout=0.5)
            with pytest.raises(UserError, match="database .*h.db: database is locked"):
                asyncio.run(asyncio.wait_for(session.run(), 10))
        finally:
            locker.execute("ROLLBACK")
            locker.close()
    assert link.opens == 1
