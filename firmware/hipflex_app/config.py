"""settings.toml keys (strings and integers only) -> Config.

Bad values never stop the board: they are reported in ``warnings`` (printed
on the serial console at start-up) and the default is used.
"""

from hipflex.core import profiles

RATES = (52, 104, 208)
IMU_NAMES = ("LSM6DS33", "LSM6DS3TRC", "ISM330DHCX", "LSM6DSOX", "LSM6DSO32")
PREFIX = "HIPFLEX_"


class Config:
    """Parsed settings. ``getenv(key)`` returns a str/int or None
    (``os.getenv`` on CircuitPython reads settings.toml).

    Attributes: ``name`` (BLE name or None = hipflex-XXXX), ``exercise``,
    ``secret`` ('' = none), ``rate_hz``, ``imu`` (forced chip or None),
    ``ble``, ``usb`` (bool), ``brightness`` (0-255), ``status_ms``,
    ``buffer`` (events kept), ``overrides`` (detector parameters),
    ``warnings`` (list of str).
    """

    def __init__(self, getenv):
        self.warnings = []
        self._get = getenv
        self.name = self._str("NAME", None)
        if self.name is not None and not (1 <= len(self.name) <= 20):
            self.warnings.append("HIPFLEX_NAME must be 1-20 characters")
            self.name = None
        self.exercise = self._str("EXERCISE", "auto")
        if self.exercise not in profiles.NAMES:
            self.warnings.append("HIPFLEX_EXERCISE %r unknown; using auto" % self.exercise)
            self.exercise = "auto"
        self.secret = self._str("SECRET", "") or ""
        if self.secret and len(self.secret) < 16:
            self.warnings.append("HIPFLEX_SECRET is short; use 16+ random characters")
        self.rate_hz = self._int("RATE_HZ", 104, 52, 208)
        if self.rate_hz not in RATES:
            self.warnings.append("HIPFLEX_RATE_HZ must be 52, 104 or 208")
            self.rate_hz = 104
        self.imu = self._str("IMU", None)
        if self.imu is not None and self.imu not in IMU_NAMES:
            self.warnings.append("HIPFLEX_IMU %r unknown; detecting" % self.imu)
            self.imu = None
        self.fifo = bool(self._int("FIFO", 1, 0, 1))
        self.ble = bool(self._int("BLE", 1, 0, 1))
        self.usb = bool(self._int("USB", 1, 0, 1))
        self.brightness = self._int("BRIGHTNESS", 40, 0, 255)
        self.status_ms = self._int("STATUS_MS", 5000, 500, 600000)
        self.buffer = self._int("BUFFER", 256, 256, 2048)
        self.overrides = {}
        for k in profiles.DEFAULTS:
            v = self._int(k.upper(), None, 0, 1000000)
            if v is not None:
                self.overrides[k] = v

    def _raw(self, key):
        try:
            return self._get(PREFIX + key)
        except Exception:  # a malformed settings.toml line
            self.warnings.append("cannot read %s%s" % (PREFIX, key))
            return None

    def _str(self, key, default):
        v = self._raw(key)
        if v is None:
            return default
        return str(v)

    def _int(self, key, default, lo, hi):
        v = self._raw(key)
        if v is None:
            return default
        try:
            v = int(v)
        except (TypeError, ValueError):
            self.warnings.append("%s%s must be an integer" % (PREFIX, key))
            return default
        if v < lo or v > hi:
            self.warnings.append("%s%s out of range %d..%d" % (PREFIX, key, lo, hi))
            return default
        return v

    def params(self, exercise):
        """Detector parameters for ``exercise`` with the settings' overrides."""
        return profiles.get(exercise, self.overrides)
