"""LED / NeoPixel and display feedback.

LED meaning (colour LED; a single-colour LED shows the same timing):

* dim amber, steady        learning the rest pose (keep the leg still)
* short dim green blink    every 3 s: counting, idle (blue when a host is connected)
* green flash (150 ms)     a rep was counted
* blue, growing brightness a hold is running (brightness = progress to the
                           exercise's target hold)
* green/white fast flicker the target hold time is reached (until you let go)
* red, 3 short blinks      no IMU found (see the serial console); repeats
"""

OFF = (0, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 60, 255)
AMBER = (255, 120, 0)
RED = (255, 0, 0)
WHITE = (255, 255, 255)

REP_FLASH_MS = 150
HEARTBEAT_MS = 3000
ERROR_PERIOD_MS = 1900


def _scale(c, f):
    return (int(c[0] * f), int(c[1] * f), int(c[2] * f))


class Led:
    """Adapts a NeoPixel-like object (``fill``), a digital LED (``value``),
    or None. ``brightness`` 0-255 scales colours."""

    def __init__(self, dev, brightness=40):
        self.dev = dev
        self.brightness = brightness
        self.color = None

    def set(self, color):
        if color == self.color:
            return
        self.color = color
        d = self.dev
        if d is None:
            return
        if hasattr(d, "fill"):
            d.fill(_scale(color, self.brightness / 255.0))
            if hasattr(d, "show") and not getattr(d, "auto_write", True):
                d.show()
        else:
            d.value = color != OFF


def pattern_no_sensor(now_ms):
    """Red: three 150 ms blinks, then a pause."""
    p = now_ms % ERROR_PERIOD_MS
    if p < 900 and (p // 150) % 2 == 0:
        return RED
    return OFF


class Feedback:
    """Turns the application state into LED colours and screen updates.

    ``screen``: object with ``show(count, hold_ms, exercise, status)`` or None.
    """

    def __init__(self, led, screen=None):
        self.led = led
        self.screen = screen
        self._flash_until = -1
        self._target_hit = False
        self._shown = None
        self._screen_at = -1000
        self.target_signals = 0    # times the target-hold signal started

    def rep(self, now_ms):
        self._flash_until = now_ms + REP_FLASH_MS

    def color(self, now_ms, ready, holding, hold_ms, target_ms, connected):
        """Colour for this moment (also latches the target signal)."""
        if now_ms < self._flash_until:
            return GREEN
        if holding:
            if target_ms > 0 and hold_ms >= target_ms:
                if not self._target_hit:
                    self._target_hit = True
                    self.target_signals += 1
                return GREEN if (now_ms // 125) % 2 == 0 else WHITE
            f = 0.15
            if target_ms > 0:
                f = 0.1 + 0.9 * hold_ms / target_ms
            return _scale(BLUE, f)
        self._target_hit = False
        if not ready:
            return _scale(AMBER, 0.3)
        if now_ms % HEARTBEAT_MS < 40:
            return _scale(BLUE if connected else GREEN, 0.3)
        return OFF

    def update(self, now_ms, ready, holding, hold_ms, target_ms, connected,
               count, exercise, status=""):
        self.led.set(self.color(now_ms, ready, holding, hold_ms, target_ms,
                                connected))
        if self.screen is not None and now_ms - self._screen_at >= 200:
            shown = (count, hold_ms // 100 if holding else -1, exercise, status)
            if shown != self._shown:
                self._shown = shown
                self._screen_at = now_ms
                self.screen.show(count, hold_ms if holding else 0, exercise,
                                 status)

    def no_sensor(self, now_ms, message="no IMU"):
        self.led.set(pattern_no_sensor(now_ms))
        if self.screen is not None and self._shown != message:
            self._shown = message
            self.screen.show(0, 0, "", message)
