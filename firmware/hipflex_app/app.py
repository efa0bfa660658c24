"""The hipflex application: sensor -> shared core -> events, feedback, links.

``App`` receives all hardware as parameters, so the same code runs on the
board (see hardware.py) and on the host against emulated parts:

* ``i2c``: busio.I2C-like bus with the IMU (None = no bus)
* ``clock``: object with ``now_ms()`` (int, unwrapped) and ``sleep_ms(ms)``
* ``links``: list of link.Link (USB CDC data, BLE UART)
* ``led``: feedback.Led; ``screen``: display adapter or None
* ``buttons``: list of buttons.Button; the first one: short press = new set,
  long press = next exercise; a second one (CLUE B): short = next exercise
* ``settings``: ``getenv``-style callable (``os.getenv``) or a dict
* ``battery``: object with ``read()`` -> ``(percent, millivolts)`` or None
* ``random_bytes``: ``os.urandom``; ``dev_id``: 8 hex digits
* ``reset``: callable that restarts the board (``microcontroller.reset``)
"""

import gc

from hipflex.core import profiles
from hipflex.core import protocol as P
from hipflex.core.detector import Detector

from hipflex_app import buttons as B
from hipflex_app.config import Config
from hipflex_app.feedback import Feedback, Led
from hipflex_app.sensor import IMU, SensorNotFound

REPLAY_PER_STEP = 4      # events replayed per loop iteration and link


class App:
    def __init__(self, i2c, clock, links=(), led=None, buttons=(), screen=None,
                 settings=None, battery=None, random_bytes=None,
                 dev_id="00000000", reset=None, log=print):
        if settings is None:
            settings = {}
        getenv = settings.get if isinstance(settings, dict) else settings
        self.cfg = cfg = Config(getenv)
        self.clock = clock
        self.links = list(links)
        self.buttons = list(buttons)
        self.battery = battery
        self.log = log
        self._reset = reset
        self._rand = random_bytes
        self.dev = dev_id
        self.boot = P._hex(random_bytes(4)) if random_bytes else "00000000"
        self.name = cfg.name or ("hipflex-" + dev_id[-4:].upper())
        if led is None:
            led = Led(None)
        led.brightness = cfg.brightness
        self.feedback = Feedback(led, screen)
        for w in cfg.warnings:
            log("hipflex: settings: " + w)
        for ln in self.links:
            ln.auth = P.Authenticator(cfg.secret, dev_id, random_bytes or _no_random)
        self.ring = P.EventRing(cfg.buffer)
        self.exercise = cfg.exercise
        self.det = Detector(cfg.params(self.exercise))
        self.session = {}            # parameters set with the SET command
        self.set_no = 1
        self.samples = []
        self.sample_count = 0
        self.error = None
        self._hold_since = None      # clock ms when the current hold began
        self.imu = None
        self.chip = "none"
        try:
            if i2c is None:
                raise SensorNotFound("no I2C bus")
            self.imu = IMU(i2c, clock, cfg.rate_hz, cfg.imu, cfg.fifo)
            self.chip = self.imu.name
            log("hipflex: %s at 0x%02x, %d Hz, %s, +-%d g, +-%d dps" % (
                self.imu.name, self.imu.address, cfg.rate_hz,
                "FIFO" if self.imu.fifo else "data-ready polling",
                self.imu.accel_range_g, self.imu.gyro_range_dps))
        except SensorNotFound as e:
            self.error = str(e)
            log("hipflex: ERROR: %s. Check the IMU wiring (SDA/SCL/3V/GND) "
                "or the STEMMA QT cable; counting is off, the links still work."
                % e)
        except (OSError, RuntimeError, ValueError) as e:
            self.error = "IMU failed: %s" % e
            log("hipflex: ERROR: " + self.error)
        self.t0 = clock.now_ms()
        self._status_at = self.t0
        chip_i = P.CHIPS.index(self.chip) if self.chip in P.CHIPS else 0
        self._event(P.K_BOOT, self.t0, a=P.firmware_code(), b=chip_i,
                    c=cfg.rate_hz if self.imu else 0)

    # ------------------------------------------------------------- helpers
    @property
    def missed(self):
        return self.imu.missed if self.imu else 0

    def live_hold_ms(self, now_ms):
        """Current hold (ms, 0 when not holding): the detector's value, but
        never less than the time it has been holding without a break."""
        d = self.det
        if not d.holding:
            self._hold_since = None
            return 0
        if self._hold_since is None:
            self._hold_since = now_ms - d.hold_ms
        run = now_ms - self._hold_since
        return d.hold_ms if d.hold_ms > run else run

    @property
    def target_hold_ms(self):
        return self.det.params.get("target_hold_ms", 0)

    def _event(self, kind, t, a=0, b=0, c=0, d=0, n=0):
        seq = self.ring.append(kind, t, P.exercise_index(self.exercise),
                               self.set_no, a, b, c, d, n)
        line = P.format_event(self.ring.get(seq), self.dev, self.boot)
        for ln in self.links:
            ln.write_line(line)
        return seq

    def new_set(self, now_ms):
        prev = self.det.count
        self.det.new_set()
        self.set_no += 1
        self._event(P.K_SET, now_ms, n=prev)

    def set_exercise(self, name, now_ms):
        if name not in profiles.NAMES:
            raise KeyError(name)
        self.exercise = name
        p = self.cfg.params(name)
        p.update(self.session)
        self.det.set_params(p)
        self._event(P.K_EX, now_ms)
        self.new_set(now_ms)

    def next_exercise(self, now_ms):
        names = profiles.NAMES
        i = (P.exercise_index(self.exercise) + 1) % len(names)
        self.set_exercise(names[i], now_ms)

    def set_param(self, key, value, now_ms):
        self.det.set_params({key: value})
        self.session[key] = value
        self._event(P.K_PARAM, now_ms, a=P.PARAM_KEYS.index(key), b=value)

    # ------------------------------------------------------------- messages
    def hello_line(self):
        r = self.ring
        return P.encode_hello(self.dev, self.boot, self.name, self.chip,
                              self.exercise, self.set_no, self.det.count,
                              r.first_seq, r.last_seq, r.capacity,
                              "hmac-sha256" if self.cfg.secret else "none")

    def status_line(self, now_ms):
        bat, mv = -1, 0
        if self.battery is not None:
            try:
                bat, mv = self.battery.read()
            except Exception:  # a flaky ADC must not stop counting
                pass
        d = self.det
        return P.encode_status(self.dev, self.boot, self.ring.last_seq, now_ms,
                               self.exercise, self.set_no, d.count, bat, mv,
                               self.missed, len(self.ring), self.ring.capacity,
                               self.live_hold_ms(now_ms))

    def handle_line(self, link, line, now_ms):
        """Execute one command line from ``link``; never raises."""
        try:
            self._command(link, line, now_ms)
        except P.ProtocolError as e:
            link.write_line(P.encode_err(_cmd_token(line), getattr(e, "code", "bad")))
        except Exception as e:  # keep counting whatever a host sends
            self.log("hipflex: command failed: %r" % (e,))
            link.write_line(P.encode_err(_cmd_token(line), "bad"))

    def _command(self, link, line, now_ms):
        name, args, mac = P.decode_command(line)
        lo, hi, needs_auth = P.COMMANDS[name]
        if needs_auth:
            code = link.auth.check(name, args, mac, now_ms)
            if code:
                link.write_line(P.encode_err(name, code))
                return
        if name in ("hello", "version"):
            link.write_line(self.hello_line())
        elif name == "status":
            link.write_line(self.status_line(now_ms))
        elif name == "nonce":
            link.write_line(P.encode_nonce(link.auth.issue(now_ms)))
        elif name == "replay":
            n = _int_arg(args[0], 0, 0xFFFFFFFF)
            link.replay_next = self.ring.next_after(n)
            link.replay_sent = 0
            if link.replay_next is None:
                self._end_replay(link)
        elif name == "raw":
            if args[0] == "off":
                link.raw_div = 0
            elif args[0] == "on":
                link.raw_div = _int_arg(args[1], 1, 100) if len(args) > 1 else 1
                link.raw_count = 0
            else:
                raise _code("args")
            link.write_line(P.encode_ok(name))
        elif name == "ex":
            if args[0] not in profiles.NAMES:
                raise _code("range")
            self.set_exercise(args[0], now_ms)
            link.write_line(P.encode_ok(name))
        elif name == "set":
            if args[0] not in profiles.DEFAULTS:
                raise _code("range")
            self.set_param(args[0], _int_arg(args[1], 0, 1000000), now_ms)
            link.write_line(P.encode_ok(name))
        elif name == "new":
            self.new_set(now_ms)
            link.write_line(P.encode_ok(name))
        elif name == "erase":
            self.ring.clear()
            for ln in self.links:
                ln.replay_next = None
            link.write_line(P.encode_ok(name))
        elif name == "reset":
            link.write_line(P.encode_ok(name))
            if self._reset is not None:
                self._reset()

    def _end_replay(self, link):
        link.replay_next = None
        r = self.ring
        link.write_line(P.encode_end(self.dev, self.boot, r.first_seq,
                                     r.last_seq, link.replay_sent))

    def _service_replay(self, link):
        for _ in range(REPLAY_PER_STEP):
            s = link.replay_next
            if s is None:
                return
            s = self.ring.next_after(s - 1)   # skips overwritten events
            if s is None:
                self._end_replay(link)
                return
            link.write_line(P.format_event(self.ring.get(s), self.dev, self.boot))
            link.replay_sent += 1
            link.replay_next = s + 1
            if s + 1 > self.ring.last_seq:
                self._end_replay(link)
                return

    # ------------------------------------------------------------- loop
    def step(self):
        """One pass of the main loop. Returns the number of samples processed."""
        clock = self.clock
        now = clock.now_ms()
        n = 0
        if self.imu is not None:
            buf = self.samples
            try:
                self.imu.read(buf)
            except OSError as e:       # I2C glitch: count it, keep going
                self.log("hipflex: IMU read failed: %s" % e)
            n = len(buf)
            if n:
                det = self.det
                upd = det.update
                raw_links = [ln for ln in self.links if ln.raw_div]
                for s in buf:
                    rep = upd(s[0], s[1], s[2], s[3], s[4], s[5], s[6])
                    if raw_links:
                        for ln in raw_links:
                            ln.raw_count += 1
                            if ln.raw_count >= ln.raw_div:
                                ln.raw_count = 0
                                ln.write_line(P.encode_raw(*s))
                    if rep is not None:
                        self._on_rep(rep)
                self.sample_count += n
                del buf[:]
        connected = False
        for ln in self.links:
            if ln.service(now):
                ln.write_line(self.hello_line())
            if ln.was_connected:
                connected = True
                for line in ln.poll_lines():
                    self.handle_line(ln, line, now)
                self._service_replay(ln)
        for i in range(len(self.buttons)):
            ev = self.buttons[i].update(now)
            if ev == B.SHORT and i == 0:
                self.new_set(now)
            elif ev == B.LONG or (ev == B.SHORT and i == 1):
                self.next_exercise(now)
        if now - self._status_at >= self.cfg.status_ms:
            self._status_at = now
            if connected:
                line = self.status_line(now)
                for ln in self.links:
                    ln.write_line(line)
        if self.imu is None:
            self.feedback.no_sensor(now, self.error or "no IMU")
        else:
            d = self.det
            self.feedback.update(now, d.ready, d.holding, self.live_hold_ms(now),
                                 self.target_hold_ms, connected, d.count,
                                 self.exercise)
        if not n:
            clock.sleep_ms(1)
        return n

    def _on_rep(self, rep):
        self._event(P.K_REP, rep.end_ms, a=rep.start_ms, b=rep.peak_ms,
                    c=int(rep.rom_deg * 10 + 0.5), d=rep.hold_ms,
                    n=rep.index)
        self.feedback.rep(self.clock.now_ms())

    def run(self):
        """Loop forever (on the board)."""
        gc.collect()
        while True:
            self.step()


def _no_random(n):
    raise RuntimeError("no random source")


def _code(code):
    e = P.ProtocolError(code)
    e.code = code
    return e


def _int_arg(s, lo, hi):
    try:
        v = int(s)
    except ValueError:
        raise _code("args")
    if v < lo or v > hi:
        raise _code("range")
    return v


def _cmd_token(line):
    """A safe ``cmd=`` value for an error reply to ``line``."""
    try:
        t = line.split()[0].lower()
        if t in P.COMMANDS:
            return t
    except Exception:
        pass
    return "none"
