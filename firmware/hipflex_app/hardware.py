"""Build the real hardware for App on a CircuitPython board.

Only this module touches ``board``, ``busio``, ``digitalio``, ``usb_cdc``,
``_bleio``/adafruit_ble and friends; everything it builds is passed to
``App`` as parameters. Missing parts (no display, no BLE, no battery monitor)
are simply left out.
"""

import os
import time

import board
import microcontroller
from hipflex_app.buttons import Button
from hipflex_app.clock import Clock, monotonic_ticks_ms
from hipflex_app.feedback import Led
from hipflex_app.link import BLELink, StreamLink


def _getenv(key):
    return os.getenv(key)


def make_clock():
    try:
        import supervisor
        ticks = supervisor.ticks_ms
    except (ImportError, AttributeError):
        ticks = monotonic_ticks_ms
    return Clock(ticks, time.sleep)


def make_i2c():
    """The board's default I2C bus (STEMMA QT / internal IMU bus)."""
    try:
        return board.I2C()
    except Exception as e:  # no pull-ups: nothing connected
        print("hipflex: I2C bus unavailable: %s" % e)
        return None


def dev_id():
    uid = microcontroller.cpu.uid
    return "".join(["%02x" % b for b in uid[-4:]])


def make_led():
    if hasattr(board, "NEOPIXEL"):
        try:
            import neopixel
            return neopixel.NeoPixel(board.NEOPIXEL, 1, auto_write=True)
        except ImportError:
            pass
    for name in ("LED", "L", "BLUE_LED", "RED_LED"):
        if hasattr(board, name):
            import digitalio
            led = digitalio.DigitalInOut(getattr(board, name))
            led.direction = digitalio.Direction.OUTPUT
            return led
    return None


def _pin_button(pin):
    import digitalio
    io = digitalio.DigitalInOut(pin)
    io.switch_to_input(pull=digitalio.Pull.UP)
    return Button(lambda: not io.value)


def make_buttons():
    out = []
    for name in ("BUTTON_A", "SWITCH", "BUTTON", "BOOT0"):
        if hasattr(board, name):
            out.append(_pin_button(getattr(board, name)))
            break
    if hasattr(board, "BUTTON_B"):
        out.append(_pin_button(board.BUTTON_B))
    return out


class ClueScreen:
    """Count, hold time and exercise on the built-in display."""

    def __init__(self, display):
        import displayio
        import terminalio
        from adafruit_display_text import label
        self.group = displayio.Group()
        self.count = label.Label(terminalio.FONT, text="0", scale=6, x=10, y=60)
        self.hold = label.Label(terminalio.FONT, text="", scale=3, x=10, y=140)
        self.ex = label.Label(terminalio.FONT, text="", scale=2, x=10, y=190)
        self.status = label.Label(terminalio.FONT, text="", scale=1, x=10, y=225)
        for w in (self.count, self.hold, self.ex, self.status):
            self.group.append(w)
        try:
            display.root_group = self.group
        except AttributeError:
            display.show(self.group)

    def show(self, count, hold_ms, exercise, status):
        self.count.text = str(count)
        self.hold.text = ("hold %d.%d s" % (hold_ms // 1000, (hold_ms // 100) % 10)) if hold_ms else ""
        self.ex.text = exercise.replace("_", " ")
        self.status.text = status


def make_screen():
    if not hasattr(board, "DISPLAY"):
        return None
    try:
        return ClueScreen(board.DISPLAY)
    except ImportError as e:
        print("hipflex: display disabled (%s); circup install adafruit_display_text" % e)
        return None


class Battery:
    """LiPo voltage from the board's divider (Feather: 1/2 on VOLTAGE_MONITOR)."""

    def __init__(self, pin):
        import analogio
        self.adc = analogio.AnalogIn(pin)

    def read(self):
        mv = self.adc.value * 3300 * 2 // 65535
        pct = (mv - 3300) * 100 // (4200 - 3300)
        return max(0, min(100, pct)), mv


def make_battery():
    for name in ("VOLTAGE_MONITOR", "BATTERY"):
        if hasattr(board, name):
            try:
                return Battery(getattr(board, name))
            except Exception:
                return None
    return None


def make_links(name, use_ble=True, use_usb=True):
    links = []
    if use_usb:
        try:
            import usb_cdc
            if usb_cdc.data is not None:
                links.append(StreamLink(usb_cdc.data))
            else:
                print("hipflex: usb_cdc.data off (boot.py enables it after a hard reset)")
        except ImportError:
            pass
    if use_ble:
        try:
            from adafruit_ble import BLERadio
            from adafruit_ble.advertising.standard import ProvideServicesAdvertisement
            from adafruit_ble.services.nordic import UARTService
            radio = BLERadio()
            radio.name = name
            uart = UARTService()
            # the name goes in the scan response (radio.name): a 128-bit UUID
            # and the name together exceed the 31-byte advertising packet
            adv = ProvideServicesAdvertisement(uart)
            links.append(BLELink(radio, uart, adv))
        except Exception as e:  # no BLE on this board / library missing
            print("hipflex: BLE unavailable: %s" % e)
    return links


def build():
    """Keyword arguments for App on this board."""
    from hipflex_app.config import Config
    cfg = Config(_getenv)
    did = dev_id()
    name = cfg.name or ("hipflex-" + did[-4:].upper())
    screen = make_screen()
    return {
        "i2c": make_i2c(),
        "clock": make_clock(),
        "links": make_links(name, cfg.ble, cfg.usb),
        "led": Led(make_led(), cfg.brightness),
        "buttons": make_buttons(),
        "screen": screen,
        "settings": _getenv,
        "battery": make_battery(),
        "random_bytes": os.urandom,
        "dev_id": did,
        "reset": microcontroller.reset,
    }
