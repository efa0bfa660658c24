"""IMU: find the LSM6DS-family chip, configure it, read samples.

* Detection tries each adafruit_lsm6ds class at 0x6A and 0x6B (the driver's
  mismatch error says "check your wiring" even when a different family member
  answered; here the chip actually found is reported). The LSM6DSOX and
  LSM6DSO32 share WHO_AM_I 0x6C: the gravity magnitude read at start-up tells
  them apart (the DSO32's scale codes mean twice the range, so at rest the
  LSM6DSOX scaling reads ~0.5 g), unless ``HIPFLEX_IMU`` names the chip.
* Ranges: +-8 g and +-2000 deg/s: fast knee drives (mountain climbers) reach
  ~1000 deg/s at the thigh and several g; resolution stays far below the
  detector's thresholds (0.24 mg, 0.07 deg/s per count).
* Reading: both sensors are batched in the chip's FIFO in continuous mode,
  so a loop stall (BLE, garbage collection) loses nothing: ~2.4 s on the
  tagged FIFO of the LSM6DSOX, LSM6DSO32 and ISM330DHCX (one 7-byte word per
  transfer), several seconds on the word FIFO of the LSM6DS33/LSM6DS3TR-C
  (Gx Gy Gz XLx XLy XLz, one 16-bit word per transfer; realigned on the
  pattern register). With ``HIPFLEX_FIFO = 0`` the chip is polled on its
  data-ready bits and accelerometer and gyro are read in one 12-byte burst
  (0x22..0x2D, one sample, consistent with block data update).
* Time: each sample gets an integer ms time. From the FIFO, times are
  reconstructed at the nominal period and kept within one period of the
  read time; gaps longer than 1.5 periods count as missed samples.
"""

import math
import struct

from micropython import const

_STATUS_REG = const(0x1E)
_OUTX_L_G = const(0x22)
_FIFO_CTRL3 = const(0x09)
_FIFO_CTRL4 = const(0x0A)
_FIFO_STATUS1 = const(0x3A)
_FIFO_DATA_OUT_TAG = const(0x78)
_DS3_FIFO_CTRL3 = const(0x08)
_DS3_FIFO_CTRL5 = const(0x0A)
_DS3_FIFO_DATA_OUT_L = const(0x3E)
_FIFO_MODE_BYPASS = const(0)
_FIFO_MODE_CONTINUOUS = const(6)
_TAG_GYRO = const(0x01)
_TAG_ACCEL = const(0x02)
_MG_TO_MS2 = 0.00980665
_MDPS_TO_RADS = math.pi / 180000.0

ADDRESSES = (0x6A, 0x6B)

FIFO_TAGGED = "tagged"     # LSM6DSOX family
FIFO_WORDS = "words"       # LSM6DS3 family

# (report name, module, class, FIFO kind), in detection order.
CHIPS = (
    ("LSM6DS33", "adafruit_lsm6ds.lsm6ds33", "LSM6DS33", FIFO_WORDS),
    ("LSM6DS3TRC", "adafruit_lsm6ds.lsm6ds3trc", "LSM6DS3TRC", FIFO_WORDS),
    ("ISM330DHCX", "adafruit_lsm6ds.ism330dhcx", "ISM330DHCX", FIFO_TAGGED),
    ("LSM6DSOX", "adafruit_lsm6ds.lsm6dsox", "LSM6DSOX", FIFO_TAGGED),
    ("LSM6DSO32", "adafruit_lsm6ds.lsm6dso32", "LSM6DSO32", FIFO_TAGGED),
)

# Output data rate (Hz) -> adafruit_lsm6ds Rate code (also the FIFO BDR code).
RATE_CODES = {52: 3, 104: 4, 208: 5}


class SensorNotFound(Exception):
    """No supported IMU answered; ``str()`` explains what was tried."""


def _driver_class(mod, cls):
    m = __import__(mod, None, None, [cls])
    return getattr(m, cls)


def find_chip(i2c, prefer=None, addresses=ADDRESSES):
    """Return ``(name, driver, address, fifo_kind)`` for the first chip found.

    ``prefer`` (a name from CHIPS) restricts the search to that class.
    Raises SensorNotFound with what answered (or that nothing did).
    """
    tried = []
    for addr in addresses:
        for name, mod, cls, fifo in CHIPS:
            if prefer and name != prefer:
                continue
            try:
                drv = _driver_class(mod, cls)(i2c, addr)
            except ValueError:
                # nothing acknowledges this address: next address
                tried.append("0x%02x: no device" % addr)
                break
            except RuntimeError:
                # something answered with another WHO_AM_I: try next class
                continue
            except OSError as e:
                tried.append("0x%02x: bus error %s" % (addr, e))
                break
            return name, drv, addr, fifo
        else:
            tried.append("0x%02x: unknown chip" % addr)
    raise SensorNotFound("no LSM6DS-family IMU (%s)" % ", ".join(tried))


class IMU:
    """A configured IMU delivering ``(t_ms, ax, ay, az, gx, gy, gz)`` samples.

    ``i2c``: busio.I2C; ``clock``: object with ``now_ms()``; ``rate_hz``: 52,
    104 or 208; ``prefer``: chip name from settings or None; ``use_fifo``:
    batch through the chip's FIFO (else poll data-ready).
    Attributes: ``name``, ``address``, ``rate_hz``, ``fifo`` (kind in use or
    None),
    ``missed`` (samples lost since start), ``fifo_overruns``.
    """

    def __init__(self, i2c, clock, rate_hz=104, prefer=None, use_fifo=True):
        if rate_hz not in RATE_CODES:
            raise ValueError("rate must be 52, 104 or 208 Hz")
        self.clock = clock
        self.rate_hz = rate_hz
        self.period_us = 1000000 // rate_hz
        name, drv, addr, kind = find_chip(i2c, prefer)
        if name == "LSM6DSOX" and not prefer:
            self._configure(drv, None)
            if self._looks_like_dso32():
                name, drv, addr, kind = find_chip(i2c, "LSM6DSO32", (addr,))
        self.name = name
        self.address = addr
        self.driver = drv
        self._configure(drv, kind if use_fifo else None)
        self.missed = 0
        self.fifo_overruns = 0
        self._last_t = None
        self._next_us = None

    # ---------------------------------------------------------------- setup
    def _configure(self, drv, fifo):
        import adafruit_lsm6ds as L
        code = RATE_CODES[self.rate_hz]
        drv.accelerometer_range = L.AccelRange.RANGE_8G
        drv.gyro_range = L.GyroRange.RANGE_2000_DPS
        drv.accelerometer_data_rate = code
        drv.gyro_data_rate = code
        self._ascale = L.AccelRange.lsb[drv.accelerometer_range] * _MG_TO_MS2
        self._gscale = L.GyroRange.lsb[drv.gyro_range] * _MDPS_TO_RADS
        self.accel_range_g = L.AccelRange.string[drv.accelerometer_range]
        self.gyro_range_dps = L.GyroRange.string[drv.gyro_range]
        self._dev = drv.i2c_device
        self._reg = bytearray(1)
        self._buf = bytearray(12)
        self._wbuf = bytearray(2)
        self._fbuf = bytearray(7)
        self._pend = None
        self.fifo = fifo
        if fifo == FIFO_TAGGED:
            self._write(_FIFO_CTRL4, _FIFO_MODE_BYPASS)      # empties the FIFO
            self._write(_FIFO_CTRL3, (code << 4) | code)      # gyro | accel BDR
            self._write(_FIFO_CTRL4, _FIFO_MODE_CONTINUOUS)
        elif fifo == FIFO_WORDS:
            self._write(_DS3_FIFO_CTRL5, _FIFO_MODE_BYPASS)
            self._write(_DS3_FIFO_CTRL3, 0x09)                # no decimation
            self._write(_DS3_FIFO_CTRL5, (code << 3) | _FIFO_MODE_CONTINUOUS)

    def _looks_like_dso32(self):
        """Mean |a| of a few samples, in g, is near 0.5 with DSOX scaling."""
        s = 0.0
        n = 0
        t_end = self.clock.now_ms() + 300
        while n < 8 and self.clock.now_ms() < t_end:
            if self._read_reg(_STATUS_REG) & 1:
                self._burst()
                b = self._buf
                ax, ay, az = struct.unpack_from("<hhh", b, 6)
                s += math.sqrt(ax * ax + ay * ay + az * az) * self._ascale
                n += 1
            else:
                self.clock.sleep_ms(2)
        if not n:
            return False
        g = s / n / 9.80665
        return 0.35 < g < 0.7

    # ---------------------------------------------------------------- bus
    def _write(self, reg, val):
        w = self._wbuf
        w[0] = reg
        w[1] = val
        with self._dev as d:
            d.write(w)

    def _read_reg(self, reg):
        r = self._reg
        r[0] = reg
        b = self._fbuf
        with self._dev as d:
            d.write_then_readinto(r, b, in_end=1)
        return b[0]

    def _burst(self):
        r = self._reg
        r[0] = _OUTX_L_G
        with self._dev as d:
            d.write_then_readinto(r, self._buf)

    # ---------------------------------------------------------------- data
    def read(self, out):
        """Append every new sample to list ``out`` as a tuple
        ``(t_ms, ax, ay, az, gx, gy, gz)`` (m/s^2, rad/s). Returns how many."""
        if self.fifo == FIFO_TAGGED:
            return self._read_fifo(out)
        if self.fifo == FIFO_WORDS:
            return self._read_words(out)
        if self._read_reg(_STATUS_REG) & 3 != 3:
            return 0
        self._burst()
        t = self.clock.now_ms()
        gx, gy, gz, ax, ay, az = struct.unpack_from("<hhhhhh", self._buf, 0)
        self._account(t)
        out.append((t, ax * self._ascale, ay * self._ascale, az * self._ascale,
                    gx * self._gscale, gy * self._gscale, gz * self._gscale))
        return 1

    def _account(self, t):
        lt = self._last_t
        if lt is not None:
            gap = (t - lt) * 1000
            if gap * 2 > self.period_us * 3:
                self.missed += (gap + self.period_us // 2) // self.period_us - 1
        self._last_t = t

    def _read_fifo(self, out):
        r = self._reg
        b = self._fbuf
        r[0] = _FIFO_STATUS1
        with self._dev as d:
            d.write_then_readinto(r, b, in_end=2)
        words = b[0] | ((b[1] & 3) << 8)
        if b[1] & 0x48:
            self.fifo_overruns += 1
        if not words:
            return 0
        now_us = self.clock.now_ms() * 1000
        got = []
        pend = self._pend
        r[0] = _FIFO_DATA_OUT_TAG
        for _ in range(words):
            with self._dev as d:
                d.write_then_readinto(r, b)
            tag = b[0] >> 3
            x, y, z = struct.unpack_from("<hhh", b, 1)
            if tag == _TAG_GYRO:
                pend = (x, y, z)
            elif tag == _TAG_ACCEL and pend is not None:
                got.append((x, y, z, pend[0], pend[1], pend[2]))
                pend = None
        self._pend = pend
        return self._stamp(got, now_us, out)

    def _read_words(self, out):
        """LSM6DS3-family FIFO: 16-bit words Gx Gy Gz XLx XLy XLz."""
        r = self._reg
        b = self._fbuf
        r[0] = _FIFO_STATUS1
        with self._dev as d:
            d.write_then_readinto(r, b, in_end=4)
        words = b[0] | ((b[1] & 0x0F) << 8)
        if b[1] & 0x40:
            self.fifo_overruns += 1
        pattern = b[2] | ((b[3] & 3) << 8)
        if not words:
            return 0
        now_us = self.clock.now_ms() * 1000
        r[0] = _DS3_FIFO_DATA_OUT_L
        if pattern:
            # mid-sample (after an overrun): drop words up to the next Gx
            skip = (6 - pattern) % 6
            if skip > words:
                skip = words
            for _ in range(skip):
                with self._dev as d:
                    d.write_then_readinto(r, b, in_end=2)
            words -= skip
        got = []
        v = self._buf
        for _ in range(words // 6):
            for k in range(6):
                with self._dev as d:
                    d.write_then_readinto(r, v, in_start=2 * k, in_end=2 * k + 2)
            gx, gy, gz, ax, ay, az = struct.unpack_from("<hhhhhh", v, 0)
            got.append((ax, ay, az, gx, gy, gz))
        return self._stamp(got, now_us, out)

    def _stamp(self, got, now_us, out):
        """Give FIFO samples (raw counts) times at the nominal period, the
        newest within one period of ``now_us``; append them to ``out``."""
        n = len(got)
        if not n:
            return 0
        p = self.period_us
        nxt = self._next_us
        newest = now_us
        if nxt is not None:
            newest = nxt + (n - 1) * p
            if newest > now_us:
                newest = now_us           # never in the future
            elif newest < now_us - 2 * p:
                newest = now_us           # lost samples / drift: re-anchor
        first = newest - (n - 1) * p
        asc = self._ascale
        gsc = self._gscale
        for i in range(n):
            ax, ay, az, gx, gy, gz = got[i]
            t = (first + i * p + 500) // 1000
            if self._last_t is not None and t <= self._last_t:
                t = self._last_t + 1
            self._account(t)
            out.append((t, ax * asc, ay * asc, az * asc,
                        gx * gsc, gy * gsc, gz * gsc))
        self._next_us = newest + p
        return n
