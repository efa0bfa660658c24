"""The transport-agnostic sync loop.

A ``Transport`` moves bytes (BLE notifications, USB serial reads); this
module turns them into protocol lines with the shared
``protocol.LineReassembler``, stores events through ``store.Store`` and
drives the conversation::

    connect -> hello -> status (clock reference) -> replay <acked> -> END
            -> listen (live events, status every 5 s) -> link lost
            -> wait (back-off) -> connect ...

Exactly-once storage is the store's job (UNIQUE (device, boot, seq)); the
session makes sure nothing is skipped: after every replay and every status
report it checks for holes up to the device's newest seq and asks again, and
events the device no longer holds (END says ``first > acked + 1``, or the
device restarted before they were synced) are recorded as gaps.
"""

import asyncio
import sqlite3
import time

from hipflex.core import protocol as P
from hipflex.errors import UserError
from hipflex.sync.store import now_ms


class LinkLost(Exception):
    """The link dropped (or could not be opened)."""


class ReplyTimeout(LinkLost):
    """The board did not answer in time (treated as a lost link)."""


class Transport:
    """Byte link to one board. Subclasses implement these coroutines."""

    label = "link"

    async def open(self):
        raise NotImplementedError

    async def read(self):
        """Next chunk of bytes (non-empty); raises LinkLost when the link drops."""
        raise NotImplementedError

    async def write(self, data):
        raise NotImplementedError

    async def close(self):
        pass


def event_from_message(msg, raw=None):
    """Protocol event message dict -> store event dict."""
    ev = {"kind": msg["type"].lower(), "device": msg["dev"], "boot": msg["boot"],
          "seq": msg["seq"], "t_ms": msg["t"], "raw": raw}
    if "ex" in msg:
        ev["exercise"] = msg["ex"]
    if "set" in msg:
        ev["set"] = msg["set"]
    t = msg["type"]
    if t == "REP":
        ev.update(rom_deg=msg["rom"], hold_ms=msg["hold"], n=msg["n"], start_ms=msg["start"],
                  peak_ms=msg["peak"])
    elif t == "SET":
        ev["prev"] = msg["prev"]
    elif t == "PARAM":
        ev.update(key=msg["key"], val=msg["val"])
    return ev


def status_from_message(msg, raw=None):
    return {"device": msg["dev"], "boot": msg["boot"], "t_ms": msg["t"], "seq": msg["seq"],
            "battery_pct": msg["bat"], "battery_mv": msg["mv"], "exercise": msg["ex"],
            "set": msg["set"], "n": msg["n"], "missed": msg["miss"], "buffer_fill": msg["buf"],
            "buffer_cap": msg["cap"], "hold_ms": msg["hold"], "raw": raw}


class CommandRefused(UserError):
    def __init__(self, cmd, code):
        self.cmd = cmd
        self.code = code
        why = {
            "auth": "wrong owner secret (MAC refused)",
            "nonce": "no valid nonce (expired or already used)",
            "nosecret": "the board has no HIPFLEX_SECRET configured, so it refuses "
                        "setting changes",
            "range": "value not allowed",
            "args": "wrong arguments",
            "unknown": "command unknown to this firmware",
            "busy": "device busy",
        }.get(code, code)
        super().__init__("device refused '%s': %s" % (cmd, why))


class LiveState:
    """What the live panel shows; updated as messages arrive."""

    def __init__(self):
        self.link = "connecting"
        self.device = None
        self.name = None
        self.boot = None
        self.exercise = None
        self.set = None
        self.count = None
        self.battery_pct = None
        self.hold_ms = 0
        self.hold_at = None          # monotonic time of the status carrying hold_ms
        self.target_hold_ms = 0
        self.last_rep = None
        self.stored = 0
        self.duplicates = 0
        self.lost = 0
        self.garbage = 0
        self.missed = None           # sensor samples the device missed since boot
        self.replaying = False

    def current_hold_ms(self, now=None):
        if not self.hold_ms or self.hold_at is None:
            return 0
        now = time.monotonic() if now is None else now
        return int(self.hold_ms + 1000 * (now - self.hold_at))


class Session:
    """Sync one board through ``transport`` into ``store``.

    ``run()`` keeps going (reconnecting with back-off) until ``stop()`` is
    called, or, with ``once=True``, until the first full catch-up is done.
    ``on_change(state)`` is called after anything the live panel shows
    changes; ``on_raw(msg)`` receives raw sample messages; ``log(text)``
    gets one-line progress notes.
    """

    def __init__(self, store, transport, *, once=False, on_change=None, on_raw=None,
                 on_event=None, log=None, backoff=(0.2, 5.0), reply_timeout=3.0,
                 replay_timeout=10.0, replay_retries=3, max_failures=None, clock=None):
        self.store = store
        self.transport = transport
        self.once = once
        self.on_change = on_change
        self.on_raw = on_raw
        self.on_event = on_event
        self.log = log or (lambda text: None)
        self.backoff = backoff
        self.reply_timeout = reply_timeout
        self.replay_timeout = replay_timeout
        self.replay_retries = replay_retries
        self.max_failures = max_failures
        self.clock = clock or now_ms
        self.state = LiveState()
        self.ra = P.LineReassembler()
        self.hello = None
        self._waiters = []          # (predicate, future)
        self._stop = None
        self._replay_task = None
        self.connections = 0
        self.caught_up = False

    # -- public -------------------------------------------------------------
    def stop(self):
        if self._stop is not None:
            self._stop.set()

    async def run(self):
        self._stop = asyncio.Event()
        delay = self.backoff[0]
        failures = 0
        while not self._stop.is_set():
            try:
                await self._connection()
                delay = self.backoff[0]
                failures = 0
            except LinkLost as e:
                failures += 1
                self._set(link="lost")
                self.log("%s (%s); retrying in %.1f s" % (
                    "link lost" if self.connections else "cannot reach the board", e, delay))
                if self.max_failures is not None and failures >= self.max_failures:
                    raise UserError("%s: giving up after %d failed attempts (%s)"
                                    % (self.transport.label, failures, e))
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                delay = min(self.backoff[1], delay * 2)
            if self.once and self.caught_up:
                break
        self._set(link="closed")

    async def connect(self):
        """Open the link and say hello (for one-shot commands); returns HELLO."""
        self._stop = asyncio.Event()
        await self.transport.open()
        self.ra.reset()
        self._reader = asyncio.ensure_future(self._read_loop())
        return await self._hello()

    async def disconnect(self):
        r = getattr(self, "_reader", None)
        if r is not None:
            r.cancel()
            try:
                await r
            except (asyncio.CancelledError, LinkLost):
                pass
        await self.transport.close()

    async def command(self, name, *args):
        """Send an unauthenticated command and wait for its OK (or raise)."""
        fut = self._expect(lambda m: m["type"] in ("OK", "ERR") and m.get("cmd") == name)
        await self._send(P.encode_command(name, *args))
        msg = await self._wait(fut, self.reply_timeout, "'%s' reply" % name)
        if msg["type"] == "ERR":
            raise CommandRefused(name, msg.get("code"))
        return msg

    async def status(self):
        """Ask for a status report; returns the ST message."""
        fut = self._expect(lambda m: m["type"] == "ST")
        await self._send(P.encode_command("status"))
        return await self._wait(fut, self.reply_timeout, "status")

    async def signed_command(self, secret, name, *args):
        """Authenticated command: ask for a nonce, send it signed, wait for OK."""
        if self.hello is None:
            raise UserError("not connected")
        fut = self._expect(lambda m: m["type"] == "NONCE")
        await self._send(P.encode_command("nonce"))
        msg = await self._wait(fut, self.reply_timeout, "nonce")
        nonce = str(msg.get("nonce", msg.get("n", "")))
        fut = self._expect(lambda m: m["type"] in ("OK", "ERR") and m.get("cmd") == name)
        await self._send(P.sign_command(secret, self.hello["dev"], nonce, name, *args))
        msg = await self._wait(fut, self.reply_timeout, "'%s' reply" % name)
        if msg["type"] == "ERR":
            raise CommandRefused(name, msg.get("code"))
        return msg

    # -- connection ---------------------------------------------------------
    async def _connection(self):
        self._set(link="connecting")
        await self.transport.open()
        self.connections += 1
        self.ra.reset()
        self._reader = asyncio.ensure_future(self._read_loop())
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            hello = await self._hello()
            self._set(link="connected")
            self.log("connected to %s (%s, boot %s, events %d-%d held)"
                     % (hello["name"], hello["dev"], hello["boot"], hello["first"],
                        hello["last"]))
            await self._catch_up()
            self.caught_up = True
            if self.once:
                return
            done, _ = await asyncio.wait([self._reader, stopper],
                                         return_when=asyncio.FIRST_COMPLETED)
            if self._reader in done:
                self._reader.result()    # raises LinkLost
        finally:
            stopper.cancel()
            for t in (self._replay_task,):
                if t is not None and not t.done():
                    t.cancel()
            self._replay_task = None
            if not self._reader.done():
                self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, LinkLost):
                pass
            except Exception:
                pass
            for _, fut in self._waiters:
                if not fut.done():
                    fut.cancel()
            self._waiters = []
            await self.transport.close()

    async def _hello(self):
        fut = self._expect(lambda m: m["type"] == "HELLO")
        await self._send(P.encode_command("hello"))
        h = await self._wait(fut, self.reply_timeout, "HELLO")
        self.hello = h
        st = self.state
        st.device, st.name, st.boot = h["dev"], h["name"], h["boot"]
        st.exercise, st.set, st.count = h["ex"], h["set"], h["n"]
        st.target_hold_ms = _target(h["ex"])
        self.store.note_device(h["dev"], name=h["name"], boot=h["boot"])
        if h["last"] > 0:
            self.store.note_device_seq(h["dev"], h["boot"], h["last"])
        # Events of earlier boots that were never synced are gone for good.
        for boot, lo, hi in self.store.other_boots_behind(h["dev"], h["boot"]):
            got = self.store.declare_lost(h["dev"], boot, lo, hi,
                                          reason="device restarted before they were synced")
            self._report_lost(boot, got)
        self._changed()
        return h

    async def _catch_up(self):
        # A status report first: its device time gives the clock offset that
        # dates replayed events.
        fut = self._expect(lambda m: m["type"] == "ST")
        await self._send(P.encode_command("status"))
        try:
            await self._wait(fut, self.reply_timeout, "status")
        except ReplyTimeout:
            self.log("no status reply; replayed events are dated by arrival time")
        await self._replay()

    async def _replay(self):
        h = self.hello
        dev, boot = h["dev"], h["boot"]
        self._set(replaying=True)
        try:
            for attempt in range(self.replay_retries + 1):
                acked = self.store.acked_seq(dev, boot)
                fut = self._expect(lambda m: m["type"] == "END" and m["boot"] == boot)
                await self._send(P.encode_command("replay", acked))
                end = await self._wait(fut, self.replay_timeout, "end of replay")
                if end["first"] > acked + 1:
                    got = self.store.declare_lost(
                        dev, boot, acked + 1, end["first"] - 1,
                        reason="overwritten in the device buffer before sync")
                    self._report_lost(boot, got)
                self.store.note_device_seq(dev, boot, end["last"])
                missing = self.store.missing(dev, boot, end["last"])
                if not missing:
                    return
                self.log("events %s missing after replay; asking again"
                         % ", ".join("%d-%d" % r for r in missing))
            self.log("events still missing after %d replays; will retry" % (attempt + 1))
        finally:
            self._set(replaying=False)

    def _report_lost(self, boot, ranges):
        for lo, hi in ranges:
            n = hi - lo + 1
            self.state.lost += n
            self.log("gap: %d event%s of boot %s (seq %d-%d) no longer on the device; "
                     "recorded as lost" % (n, "" if n == 1 else "s", boot, lo, hi))

    def _schedule_replay(self):
        if self.hello is None or self.state.replaying:
            return
        if self._replay_task is not None and not self._replay_task.done():
            return

        async def go():
            try:
                await self._replay()
            except LinkLost as e:
                self.log("replay interrupted (%s)" % e)

        self._replay_task = asyncio.ensure_future(go())

    # -- reading --------------------------------------------------------------
    async def _read_loop(self):
        while True:
            data = await self.transport.read()
            before = self.ra.dropped
            lines = self.ra.feed(data)
            self.state.garbage += self.ra.dropped - before
            if lines:
                try:
                    self._handle_lines(lines)
                except sqlite3.Error as e:
                    raise UserError("database %s: %s" % (getattr(self.store, "path", "?"), e))

    def _handle_lines(self, lines):
        events = []
        for line in lines:
            try:
                msg = P.decode(line)
            except P.ProtocolError:
                self.state.garbage += 1
                continue
            t = msg["type"]
            if t in P.EVENT_TYPES:
                events.append(event_from_message(msg, line))
                self._live_event(msg)
            elif t == "R":
                if self.on_raw:
                    self.on_raw(msg)
            elif t == "ST":
                if events:
                    self._ingest(events)
                    events = []
                self._status(msg, line)
            self._dispatch(msg)
        if events:
            self._ingest(events)

    def _ingest(self, events):
        res = self.store.ingest(events, received_ms=self.clock())
        self.state.stored += len(res.new)
        self.state.duplicates += res.duplicates
        if self.on_event:
            for ev in res.new:
                self.on_event(ev)
        if res.new and not self.state.replaying and self.hello is not None:
            h = self.hello
            top = max(e["seq"] for e in res.new if e["boot"] == h["boot"]) \
                if any(e["boot"] == h["boot"] for e in res.new) else None
            if top is not None and self.store.missing(h["dev"], h["boot"], top):
                self._schedule_replay()
        self._changed()

    def _live_event(self, msg):
        st = self.state
        if self.hello is not None and msg["boot"] != self.hello["boot"]:
            return
        if msg["type"] == "REP":
            st.last_rep = msg
            st.count = msg["n"]
            st.set = msg["set"]
            st.exercise = msg["ex"]
            st.hold_ms = 0
        elif msg["type"] in ("SET", "EX"):
            st.set = msg["set"]
            st.exercise = msg["ex"]
            st.target_hold_ms = _target(msg["ex"])
            if msg["type"] == "SET":
                st.count = 0
        elif msg["type"] == "PARAM" and msg["key"] == "target_hold_ms":
            st.target_hold_ms = msg["val"]

    def _status(self, msg, line):
        now = self.clock()
        self.store.note_clock(msg["dev"], msg["boot"], msg["t"], now)
        self.store.record_status(status_from_message(msg, line), received_ms=now)
        st = self.state
        st.exercise, st.set, st.count = msg["ex"], msg["set"], msg["n"]
        st.battery_pct = msg["bat"] if msg["bat"] >= 0 else None
        st.missed = msg["miss"]
        st.hold_ms = msg["hold"]
        st.hold_at = time.monotonic()
        if self.hello is not None and msg["boot"] == self.hello["boot"] and self.caught_up:
            if self.store.missing(msg["dev"], msg["boot"], msg["seq"]):
                self._schedule_replay()
        self._changed()

    # -- plumbing -----------------------------------------------------------
    def _expect(self, pred):
        fut = asyncio.get_event_loop().create_future()
        self._waiters.append((pred, fut))
        return fut

    def _dispatch(self, msg):
        keep = []
        for pred, fut in self._waiters:
            if fut.done():
                continue
            if pred(msg):
                fut.set_result(msg)
            else:
                keep.append((pred, fut))
        self._waiters = keep

    async def _wait(self, fut, timeout, what):
        """Wait for ``fut``; a dropped link raises LinkLost, a timeout LinkLost too
        (a board that stops answering is treated as gone)."""
        reader = getattr(self, "_reader", None)
        waits = [fut] + ([reader] if reader is not None else [])
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if fut in done:
            return fut.result()
        if reader is not None and reader in done:
            exc = reader.exception() if not reader.cancelled() else None
            if exc is not None:
                raise exc          # LinkLost, or a database error that must not be retried
            raise LinkLost("reader stopped")
        fut.cancel()
        raise ReplyTimeout("no %s within %.1f s" % (what, timeout))

    async def _send(self, line):
        await self.transport.write(line.encode() if isinstance(line, str) else line)

    def _set(self, **kw):
        for k, v in kw.items():
            setattr(self.state, k, v)
        self._changed()

    def _changed(self):
        if self.on_change:
            self.on_change(self.state)


def _target(exercise):
    from hipflex.core import profiles
    try:
        return profiles.get(exercise)["target_hold_ms"]
    except KeyError:
        return 0
