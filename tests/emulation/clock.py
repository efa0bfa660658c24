"""Emulated time for the firmware: a microsecond counter that only moves when
someone sleeps or spends time (I2C transfers, injected stalls)."""

TICKS_PERIOD = 1 << 29   # supervisor.ticks_ms() wraps at 2**29 ms


class EmuClock:
    """``ticks_ms()`` behaves like CircuitPython's ``supervisor.ticks_ms``
    (wraps at 2**29); ``start_ticks`` lets a test start just before a wrap.
    ``now_us`` is the emulated time since creation (microseconds)."""

    def __init__(self, start_ticks=0):
        self.start_ticks = start_ticks
        self.now_us = 0

    def ticks_ms(self):
        return (self.start_ticks + self.now_us // 1000) % TICKS_PERIOD

    def monotonic_ns(self):
        return (self.start_ticks * 1000 + self.now_us) * 1000

    def advance_us(self, us):
        self.now_us += int(us)

    def sleep(self, seconds):
        """time.sleep stand-in (seconds)."""
        self.advance_us(int(seconds * 1e6))

    def sleep_ms(self, ms):
        self.advance_us(int(ms * 1000))

    @property
    def now_ms(self):
        return self.now_us // 1000
