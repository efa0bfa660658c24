"""Debounced push button with short and long press."""

SHORT = 1
LONG = 2


class Button:
    """``read()`` returns True while the button is pressed.

    ``update(now_ms)`` returns SHORT when released after less than
    ``long_ms``, LONG once when held for ``long_ms`` (its release is then
    ignored), else None. Changes shorter than ``debounce_ms`` are ignored.
    """

    def __init__(self, read, long_ms=800, debounce_ms=30):
        self._read = read
        self.long_ms = long_ms
        self.debounce_ms = debounce_ms
        self._state = False
        self._since = None      # raw level changed at
        self._raw = False
        self._down_at = 0
        self._long_sent = False

    def update(self, now_ms):
        raw = bool(self._read())
        if raw != self._raw:
            self._raw = raw
            self._since = now_ms
        if self._since is not None and raw != self._state \
                and now_ms - self._since >= self.debounce_ms:
            self._state = raw
            if raw:
                self._down_at = now_ms
                self._long_sent = False
            elif not self._long_sent:
                return SHORT
        if self._state and not self._long_sent \
                and now_ms - self._down_at >= self.long_ms:
            self._long_sent = True
            return LONG
        return None
