"""Run the firmware App on emulated hardware: LSM6DS emulator on an emulated
I2C bus, emulated clock (with tick wrap), USB and BLE links, buttons, LED and
screen. The real adafruit_lsm6ds driver talks to the emulator."""

import adafruit_lsm6ds
import adafruit_lsm6ds.ism330dhcx

from hipflex.core import protocol as P
from hipflex_app.app import App
from hipflex_app.buttons import Button
from hipflex_app.clock import Clock
from hipflex_app.feedback import Led
from hipflex_app.link import BLELink, StreamLink

from .clock import EmuClock
from .lsm6ds import EmuI2C, LSM6DSEmu


def patch_driver_sleep(clock):
    """Make the driver's settle delays (time.sleep) advance emulated time.
    Returns a function that undoes it."""
    mods = (adafruit_lsm6ds, adafruit_lsm6ds.ism330dhcx)
    old = [m.sleep for m in mods]
    for m in mods:
        m.sleep = clock.sleep

    def undo():
        for m, o in zip(mods, old):
            m.sleep = o
    return undo


class EmuSerial:
    """usb_cdc.Serial look-alike: the host side writes with ``host_send``."""

    def __init__(self):
        self.connected = True
        self._in = bytearray()
        self.out = bytearray()
        self.write_sizes = []

    @property
    def in_waiting(self):
        return len(self._in)

    def read(self, n):
        d = bytes(self._in[:n])
        del self._in[:n]
        return d

    def write(self, b):
        self.write_sizes.append(len(b))
        self.out += b

    def host_send(self, data):
        self._in += data


class EmuRadio:
    """adafruit_ble.BLERadio look-alike."""

    def __init__(self):
        self.connected = False
        self.advertising = False
        self.adverts = 0

    def start_advertising(self, adv):
        self.advertising = True
        self.adverts += 1

    def connect_central(self):
        self.connected = True
        self.advertising = False

    def disconnect(self):
        self.connected = False


class EmuUART(EmuSerial):
    """adafruit_ble UARTService look-alike (NUS): each write is a notification."""

    def write(self, b):
        if len(b) > P.NOTIFY_BYTES:
            raise ValueError("notification longer than 20 bytes")
        EmuSerial.write(self, b)


class HostEnd:
    """The laptop's end of a link: send command lines, collect decoded replies."""

    def __init__(self, stream, chunk=20):
        self.stream = stream
        self.chunk = chunk
        self.rx = P.LineReassembler()
        self.lines = []

    def send(self, line):
        data = line.encode() if isinstance(line, str) else line
        for i in range(0, len(data), self.chunk):
            self.stream.host_send(data[i:i + self.chunk])

    def collect(self):
        out = self.stream.out
        got = self.rx.feed(bytes(out))
        del out[:]
        self.lines.extend(got)
        return got

    def messages(self, mtype=None):
        self.collect()
        msgs = []
        for ln in self.lines:
            try:
                m = P.decode(ln)
            except P.ProtocolError:
                continue
            if mtype is None or m["type"] == mtype:
                msgs.append(m)
        return msgs

    def clear(self):
        self.collect()
        self.lines = []


class FakePin:
    def __init__(self):
        self.pressed = False

    def __call__(self):
        return self.pressed


class RecordingScreen:
    def __init__(self):
        self.shown = []

    def show(self, count, hold_ms, exercise, status):
        self.shown.append((count, hold_ms, exercise, status))


class RecordingPixel:
    """NeoPixel look-alike remembering every colour written."""

    def __init__(self):
        self.history = []

    def fill(self, c):
        self.history.append(tuple(c))


class Board:
    """Everything for one emulated board. ``variant`` None = no IMU on the bus."""

    def __init__(self, variant, samples=(), start_ticks=0, settings=None,
                 address=0x6A, ble=True, usb=True, seed=7):
        self.clock = EmuClock(start_ticks)
        self.undo = patch_driver_sleep(self.clock)
        self.chip = None
        devices = []
        if variant is not None:
            self.chip = LSM6DSEmu(variant, list(samples), self.clock, address)
            devices.append(self.chip)
        self.i2c = EmuI2C(self.clock, devices)
        self.fw_clock = Clock(self.clock.ticks_ms, self.clock.sleep)
        self.serial = EmuSerial()
        self.radio = EmuRadio()
        self.uart = EmuUART()
        links = []
        if usb:
            self.usb_link = StreamLink(self.serial)
            links.append(self.usb_link)
        if ble:
            self.ble_link = BLELink(self.radio, self.uart, object())
            links.append(self.ble_link)
        self.usb = HostEnd(self.serial, chunk=64)
        self.ble = HostEnd(self.uart, chunk=20)
        self.pin_a = FakePin()
        self.pin_b = FakePin()
        self.pixel = RecordingPixel()
        self.screen = RecordingScreen()
        self.log = []
        self.resets = 0
        self._rng = seed

        def rand(n):
            out = bytearray(n)
            for i in range(n):
                self._rng = (self._rng * 1103515245 + 12345) & 0x7FFFFFFF
                out[i] = (self._rng >> 16) & 0xFF
            return bytes(out)

        def reset():
            self.resets += 1

        try:
            self.app = App(self.i2c, self.fw_clock, links, Led(self.pixel),
                           [Button(self.pin_a), Button(self.pin_b)], self.screen,
                           settings or {}, None, rand, "5f3a91c2", reset,
                           self.log.append)
        finally:
            self.undo()

    def run_until(self, t_ms, hook=None):
        """Step the app until the emulated clock reaches ``t_ms`` (ms since
        the board was created)."""
        app = self.app
        while self.clock.now_ms < t_ms:
            app.step()
            if hook is not None:
                hook(self)

    def run_for(self, ms, hook=None):
        self.run_until(self.clock.now_ms + ms, hook)

    def press(self, pin, ms):
        pin.pressed = True
        self.run_for(ms)
        pin.pressed = False
        self.run_for(100)
