"""A protocol-level board emulator: the device side of the link, in Python.

Built only from the shared core (``protocol`` framing, messages, event ring
and authenticator; ``detector`` for reps), so it answers exactly as the
protocol prescribes. Used by the sync tests, the sync benchmark, and to try
the laptop tools without hardware. It is not the firmware: it has no
buttons, battery or sensor driver; samples are fed in by the caller.

``serve_pty`` runs a board on the master end of a pseudo-terminal so that
``hipflex sync --serial <slave>`` talks to it over a real tty.
"""

import os
import random

from hipflex.core import profiles
from hipflex.core import protocol as P


class EmulatedBoard:
    """Device state machine. Every method returns the lines (``str`` ending in
    ``\\n``) the board would send; the caller decides whether a host is
    connected to receive them (events stay in the ring either way)."""

    def __init__(self, dev="5f3a91c2", secret=None, capacity=256, exercise="auto",
                 name=None, rate_hz=104, status_every_ms=5000, rng=None):
        self.dev = dev
        self.name = name or "hipflex-" + dev[-4:]
        self.secret = secret
        self.capacity = capacity
        self.rate_hz = rate_hz
        self.status_every_ms = status_every_ms
        self.rng = rng or random.Random()
        self.exercise = exercise
        self.boot_count = 0
        self.t_ms = 0
        self.missed = 0
        self.battery_pct = 87
        self.raw_div = 0
        self._raw_n = 0
        self.boot_up(0)

    # -- lifecycle ----------------------------------------------------------
    def boot_up(self, t_ms=0):
        """(Re)start: new boot id, empty ring, seq from 1, a BOOT event."""
        self.boot_count += 1
        self.boot = "%08x" % self.rng.getrandbits(32)
        self.ring = P.EventRing(self.capacity)
        self.set_no = 1
        self.n = 0
        self.t_ms = t_ms
        self.params = profiles.get(self.exercise)
        self._detector = None
        self.raw_div = 0
        self._next_status = t_ms + self.status_every_ms
        self.auth = P.Authenticator(self.secret, self.dev,
                                    lambda k: bytes(self.rng.getrandbits(8) for _ in range(k)))
        return [self._event(P.K_BOOT, t_ms, a=P.firmware_code(), b=P.CHIPS.index("emulated"),
                            c=self.rate_hz)]

    @property
    def detector(self):
        if self._detector is None:
            from hipflex.core.detector import Detector
            self._detector = Detector(self.params)
        return self._detector

    def _ex_index(self):
        return P.exercise_index(self.exercise)

    def _event(self, kind, t, a=0, b=0, c=0, d=0, n=0):
        seq = self.ring.append(kind, t, self._ex_index(), self.set_no, a, b, c, d, n)
        return P.format_event(self.ring.get(seq), self.dev, self.boot)

    # -- sensing ------------------------------------------------------------
    def sample(self, t_ms, ax, ay, az, gx, gy, gz):
        """One sensor sample: raw line (when streaming) and any REP event."""
        out = []
        self.t_ms = t_ms
        if self.raw_div:
            self._raw_n += 1
            if self._raw_n >= self.raw_div:
                self._raw_n = 0
                out.append(P.encode_raw(t_ms, ax, ay, az, gx, gy, gz))
        rep = self.detector.update(t_ms, ax, ay, az, gx, gy, gz)
        if rep is not None:
            out.append(self.add_rep(rep))
        return out

    def flush(self):
        out = []
        rep = self.detector.flush()
        while rep is not None:
            out.append(self.add_rep(rep))
            rep = self.detector.flush()
        return out

    def add_rep(self, rep):
        """Store a detected Rep (``start_ms, peak_ms, end_ms, rom_deg, hold_ms``)."""
        self.n += 1
        return self._event(P.K_REP, int(rep.end_ms), a=int(rep.start_ms), b=int(rep.peak_ms),
                           c=int(round(rep.rom_deg * 10)), d=int(rep.hold_ms), n=self.n)

    def rep(self, t_ms, rom_deg, hold_ms=0):
        """Inject a rep without the detector (tests)."""
        class R:
            pass
        r = R()
        r.start_ms, r.peak_ms, r.end_ms = t_ms - 1500, t_ms - 800, t_ms
        r.rom_deg, r.hold_ms = rom_deg, hold_ms
        self.t_ms = t_ms
        return self.add_rep(r)

    def new_set(self, t_ms):
        prev = self.n
        self.set_no += 1
        self.n = 0
        self.detector.new_set()
        return [self._event(P.K_SET, t_ms, n=prev)]

    def tick(self, t_ms):
        """Advance the clock; returns a status line when one is due."""
        self.t_ms = t_ms
        if t_ms >= self._next_status:
            self._next_status = t_ms + self.status_every_ms
            return [self.status_line()]
        return []

    def status_line(self):
        return P.encode_status(self.dev, self.boot, self.ring.last_seq, self.t_ms, self.exercise,
                               self.set_no, self.n, self.battery_pct, 3900, self.missed,
                               len(self.ring), self.capacity, 0)

    # -- commands -----------------------------------------------------------
    def command(self, line):
        """Handle one command line; returns (lines, reboot_requested)."""
        try:
            name, args, mac = P.decode_command(line)
        except P.ProtocolError as e:
            toks = line.split()
            return [P.encode_err(_token(toks[0]) if toks else None, getattr(e, "code", "bad"))], False
        t = self.t_ms
        if name in ("hello", "version"):
            return [self.hello_line()], False
        if name == "status":
            return [self.status_line()], False
        if name == "replay":
            try:
                after = int(args[0])
            except ValueError:
                return [P.encode_err(name, "args")], False
            out = [P.format_event(r, self.dev, self.boot) for r in self.ring.after(after)]
            out.append(P.encode_end(self.dev, self.boot, self.ring.first_seq, self.ring.last_seq,
                                    len(out)))
            return out, False
        if name == "nonce":
            return [P.encode_nonce(self.auth.issue(t))], False
        if name == "raw":
            if args[0] == "off":
                self.raw_div = 0
            elif args[0] == "on":
                try:
                    div = int(args[1]) if len(args) > 1 else 1
                except ValueError:
                    return [P.encode_err(name, "args")], False
                if div < 1:
                    return [P.encode_err(name, "range")], False
                self.raw_div = div
                self._raw_n = 0
            else:
                return [P.encode_err(name, "args")], False
            return [P.encode_ok(name)], False
        # State-changing commands: the MAC must match a nonce issued on this link.
        code = self.auth.check(name, args, mac, t)
        if code:
            return [P.encode_err(name, code)], False
        out = []
        if name == "ex":
            if args[0] not in profiles.NAMES:
                return [P.encode_err(name, "range")], False
            self.exercise = args[0]
            self.params = profiles.get(self.exercise)
            self._detector = None
            out.append(self._event(P.K_EX, t))
            out += self.new_set(t)
        elif name == "set":
            key = args[0]
            try:
                val = int(args[1])
            except ValueError:
                return [P.encode_err(name, "args")], False
            if key not in P.PARAM_KEYS:
                return [P.encode_err(name, "range")], False
            self.params[key] = val
            if self._detector is not None:
                self._detector.set_params(self.params)
            out.append(self._event(P.K_PARAM, t, a=P.PARAM_KEYS.index(key), b=val))
        elif name == "new":
            out += self.new_set(t)
        elif name == "erase":
            self.ring.clear()
        elif name == "reset":
            return out + [P.encode_ok(name)], True
        out.append(P.encode_ok(name))
        return out, False

    def hello_line(self):
        return P.encode_hello(self.dev, self.boot, self.name, "emulated", self.exercise,
                              self.set_no, self.n, self.ring.first_seq, self.ring.last_seq,
                              self.capacity, "hmac-sha256" if self.secret else "none")


def _token(s):
    s = "".join(c for c in s if c.isalnum() or c == "_")[:20].lower()
    return s or "none"


# ---------------------------------------------------------------------------
# pseudo-terminal link

class PtyLink:
    """The board's end of a pseudo-terminal pair. The host opens ``path`` (a
    symlink that is re-pointed when the link is re-made, like a USB port that
    comes back under the same name)."""

    def __init__(self, path):
        self.path = path
        self.master = None
        self.slave = None
        self.ra = P.LineReassembler()
        self.up()

    def up(self):
        import tty
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tmp = self.path + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.ttyname(self.slave), tmp)
        os.replace(tmp, self.path)
        os.set_blocking(self.master, False)
        self.ra.reset()

    def down(self):
        """Drop the link: both ends closed, the host sees the port vanish."""
        for fd in (self.master, self.slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = None
        if os.path.lexists(self.path):
            os.unlink(self.path)

    @property
    def is_up(self):
        return self.master is not None

    def send(self, lines):
        if not self.is_up:
            return
        data = "".join(lines).encode() if not isinstance(lines, bytes) else lines
        while data:
            try:
                n = os.write(self.master, data)
                data = data[n:]
            except BlockingIOError:
                import select
                select.select([], [self.master], [], 0.05)
            except OSError:
                return

    def receive(self):
        """Command lines the host sent (non-blocking)."""
        if not self.is_up:
            return []
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            return []
        return self.ra.feed(data)


class BoardRunner:
    """Runs an EmulatedBoard on a PtyLink in a background thread.

    The board answers commands, pushes events while the link is up, sends a
    status report every ``status_every_ms`` of device time, and plays
    ``samples`` (``(t_ms, ax, ay, az, gx, gy, gz)`` tuples) through its
    detector at ``speed`` times real time (``speed=None``: only when
    ``play()`` is called). ``call(fn)`` runs ``fn(board, link)`` on the board
    thread (for fault injection) and returns its result. ``filter`` (if set)
    may rewrite each batch of outgoing lines (duplicate, reorder, corrupt).
    ``sent`` logs (time.time(), line) of every event line written.
    """

    def __init__(self, board, link, samples=None, speed=None):
        import queue
        import threading
        self.board = board
        self.link = link
        self.samples = list(samples or [])
        self.pos = 0
        self.speed = speed
        self.filter = None
        self.sent = []
        self.commands = []
        self._calls = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = None
        self._dev_t0 = 0

    def start(self):
        import time
        self._t0 = time.monotonic()
        self._dev_t0 = self.samples[0][0] if self.samples else 0
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def call(self, fn, timeout=10):
        import queue
        done = queue.Queue()
        self._calls.put((fn, done))
        ok, val = done.get(timeout=timeout)
        if not ok:
            raise val
        return val

    def emit(self, lines):
        """Send lines now (board thread only): events are logged in ``sent``."""
        import time
        if not lines or not self.link.is_up:
            return
        if self.filter is not None:
            lines = self.filter(lines)
        self.link.send(lines)
        now = time.time()
        for ln in lines:
            if ln.split(" ", 1)[0] in P.EVENT_TYPES:
                self.sent.append((now, ln))

    def play(self, upto_t_ms=None):
        """Feed samples up to device time ``upto_t_ms`` (all when None); board thread."""
        out = []
        while self.pos < len(self.samples):
            s = self.samples[self.pos]
            if upto_t_ms is not None and s[0] > upto_t_ms:
                break
            self.pos += 1
            out += self.board.sample(*s)
            out += self.board.tick(s[0])
            if len(out) > 32:
                self.emit(out)
                out = []
        if upto_t_ms is None and self.pos >= len(self.samples):
            out += self.board.flush()
        self.emit(out)

    @property
    def done(self):
        return self.pos >= len(self.samples)

    def _run(self):
        import select
        import time
        while not self._stop.is_set():
            while not self._calls.empty():
                fn, done = self._calls.get()
                try:
                    done.put((True, fn(self.board, self.link)))
                except BaseException as e:   # handed back to the caller
                    done.put((False, e))
            if self.link.is_up:
                for line in self.link.receive():
                    self.commands.append(line)
                    out, reboot = self.board.command(line)
                    self.emit(out)
                    if reboot:
                        self.board.boot_up(self.board.t_ms)
            if self.speed and self.pos < len(self.samples):
                dev_now = self._dev_t0 + (time.monotonic() - self._t0) * 1000.0 * self.speed
                self.play(dev_now)
                if self.pos >= len(self.samples):
                    self.emit(self.board.flush())
            if self.link.is_up:
                select.select([self.link.master], [], [], 0.002)
            else:
                time.sleep(0.002)
