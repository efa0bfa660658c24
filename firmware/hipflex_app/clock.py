"""Integer-millisecond application clock with tick wrap-around unfolded.

CircuitPython's ``supervisor.ticks_ms()`` counts milliseconds modulo 2**29
(wraps every 6.2 days) and stays a small int (no allocation). ``Clock``
turns it into milliseconds since the clock was created, growing without
wrapping, as long as it is read at least once per wrap period.
"""

TICKS_PERIOD = 1 << 29   # ms


class Clock:
    """``ticks_ms``: callable returning wrapping ms ticks (supervisor.ticks_ms);
    ``sleep``: callable taking seconds (time.sleep)."""

    def __init__(self, ticks_ms, sleep, period=TICKS_PERIOD):
        self._ticks = ticks_ms
        self._sleep = sleep
        self._period = period
        self._last = ticks_ms()
        self._ms = 0

    def now_ms(self):
        """Milliseconds since creation (int, never wraps)."""
        t = self._ticks()
        d = (t - self._last) % self._period
        self._last = t
        self._ms += d
        return self._ms

    def sleep_ms(self, ms):
        self._sleep(ms / 1000.0)


def monotonic_ticks_ms():
    """Fallback tick source from time.monotonic_ns() (ms, wrapped like
    supervisor.ticks_ms) for ports without ``supervisor.ticks_ms``."""
    import time
    return (time.monotonic_ns() // 1000000) % TICKS_PERIOD
