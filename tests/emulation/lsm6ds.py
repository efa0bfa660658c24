"""Register-level model of the ST LSM6DS family on an emulated I2C bus.

Enough of the chips for the adafruit_lsm6ds driver and the hipflex firmware:

* WHO_AM_I (0x0F) per variant: LSM6DS33 0x69, LSM6DS3TR-C 0x6A,
  ISM330DHCX 0x6B, LSM6DSOX 0x6C, LSM6DSO32 0x6C (the values the driver's
  classes check).
* CTRL1_XL / CTRL2_G (0x10/0x11): output data rate and full scale (the
  LSM6DSO32's accelerometer scale codes mean 4/32/8/16 g; the ISM330DHCX has
  the extra 4000 dps bit); CTRL3_C (0x12) software reset and register
  auto-increment.
* STATUS_REG (0x1E) data-ready bits, OUT_TEMP (0x20), gyro and accelerometer
  outputs (0x22..0x2D), two's complement little-endian, scaled by the
  configured range with the datasheet sensitivities and clipped to 16 bits.
* LSM6DSOX-family FIFO (ISM330DHCX, LSM6DSOX, LSM6DSO32): FIFO_CTRL3/4
  (0x09/0x0A) batch rates and continuous mode, FIFO_STATUS1/2 (0x3A/0x3B)
  fill level and overrun, tagged words at FIFO_DATA_OUT_TAG (0x78..0x7E).
* LSM6DS3-family FIFO (LSM6DS33, LSM6DS3TR-C): FIFO_CTRL3 (0x08) decimation,
  FIFO_CTRL5 (0x0A) FIFO data rate and continuous mode, FIFO_STATUS1..4
  (0x3A..0x3D) unread 16-bit words, overrun and pattern (position of the next
  word in the Gx Gy Gz XLx XLy XLz sequence), FIFO_DATA_OUT_L/H (0x3E/0x3F).

The motion comes from a list of samples ``(t_ms, ax, ay, az, gx, gy, gz)``
(m/s^2, rad/s): sample i becomes the chip's newest output when the emulated
clock reaches ``t_ms`` (the recording is assumed to be taken at the chip's
data rate). Ground truth for tests: ``produced``, ``delivered`` (indices of
samples the host actually read), ``clipped``.
"""

import math

G = 9.80665

WHO_AM_I = 0x0F
CTRL1_XL = 0x10
CTRL2_G = 0x11
CTRL3_C = 0x12
STATUS_REG = 0x1E
OUT_TEMP_L = 0x20
OUTX_L_G = 0x22
OUTX_L_A = 0x28
FIFO_CTRL3 = 0x09
FIFO_CTRL4 = 0x0A
FIFO_STATUS1 = 0x3A
FIFO_STATUS2 = 0x3B
FIFO_DATA_OUT_TAG = 0x78

ACCEL_SENS_MG = {2: 0.061, 4: 0.122, 8: 0.244, 16: 0.488, 32: 0.976}
GYRO_SENS_MDPS = {125: 4.375, 250: 8.75, 500: 17.5, 1000: 35.0, 2000: 70.0,
                  4000: 140.0}
ODR_HZ = {0: 0, 1: 12.5, 2: 26, 3: 52, 4: 104, 5: 208, 6: 416, 7: 833,
          8: 1666, 9: 3332, 10: 6664, 11: 1.6}

VARIANTS = {
    # name: (WHO_AM_I, accel FS code -> g, tagged FIFO, 4000 dps bit,
    #        FIFO depth in words)
    "LSM6DS33": (0x69, (2, 16, 4, 8), False, False, 4096),
    "LSM6DS3TRC": (0x6A, (2, 16, 4, 8), False, False, 2048),
    "ISM330DHCX": (0x6B, (2, 16, 4, 8), True, True, 512),
    "LSM6DSOX": (0x6C, (2, 16, 4, 8), True, False, 512),
    "LSM6DSO32": (0x6C, (4, 32, 8, 16), True, False, 512),
}

FIFO_WORDS = 512     # tagged FIFO depth in 7-byte words (256 samples)
DS3_FIFO_CTRL3 = 0x08
DS3_FIFO_CTRL5 = 0x0A
DS3_FIFO_STATUS3 = 0x3C
DS3_FIFO_STATUS4 = 0x3D
DS3_FIFO_DATA_OUT_L = 0x3E
TAG_GYRO = 0x01
TAG_ACCEL = 0x02


class LSM6DSEmu:
    """One emulated chip. ``clock`` is an ``EmuClock``."""

    def __init__(self, variant, samples, clock, address=0x6A):
        if variant not in VARIANTS:
            raise ValueError("unknown variant %r" % variant)
        self.variant = variant
        (self.who, self.xl_fs_table, self.has_fifo, self.has_4000,
         self.fifo_words) = VARIANTS[variant]
        self.ds3 = not self.has_fifo      # LSM6DS3-family word FIFO
        self.samples = samples
        self.clock = clock
        self.address = address
        self.regs = bytearray(128)
        self._reset_regs()
        self.produced = 0          # samples that became chip output
        self.delivered = set()     # indices read by the host (regs or FIFO)
        self.clipped = 0           # output values that hit the 16-bit limit
        self.writes = []           # (reg, value) log of register writes
        self._next = 0             # next sample index to produce
        self._cur = -1             # index in the output registers
        self._fifo = []            # [(tag, 6 bytes, sample index)]
        self._fifo_ovr = False
        self._ptr = 0
        self._latch = None         # FIFO word being read
        self._words = []           # DS3 FIFO: [(16-bit value, pattern, index)]

    # ------------------------------------------------------------ registers
    def _reset_regs(self):
        for i in range(len(self.regs)):
            self.regs[i] = 0
        self.regs[WHO_AM_I] = self.who
        self.regs[CTRL3_C] = 0x04      # IF_INC
        self.regs[OUT_TEMP_L] = 0x00
        self.regs[OUT_TEMP_L + 1] = 0x00

    def accel_fs_g(self):
        return self.xl_fs_table[(self.regs[CTRL1_XL] >> 2) & 3]

    def gyro_fs_dps(self):
        r = self.regs[CTRL2_G]
        if self.has_4000 and r & 1:
            return 4000
        if r & 2:
            return 125
        return (250, 500, 1000, 2000)[(r >> 2) & 3]

    def accel_odr_hz(self):
        return ODR_HZ.get(self.regs[CTRL1_XL] >> 4, 0)

    def gyro_odr_hz(self):
        return ODR_HZ.get(self.regs[CTRL2_G] >> 4, 0)

    def _write_reg(self, reg, val):
        self.writes.append((reg, val))
        if reg == WHO_AM_I or reg in (STATUS_REG, FIFO_STATUS1, FIFO_STATUS2):
            return
        if reg == CTRL3_C and val & 1:
            self._reset_regs()
            self._fifo = []
            self._words = []
            self._fifo_ovr = False
            return
        was_on = self._running()
        self.regs[reg] = val
        if reg == FIFO_CTRL4 and self.has_fifo and (val & 7) == 0:
            self._fifo = []            # bypass mode empties the FIFO
            self._fifo_ovr = False
        if reg == DS3_FIFO_CTRL5 and self.ds3 and (val & 7) == 0:
            self._words = []
            self._fifo_ovr = False
        if not was_on and self._running():
            # data starts with the first sample at or after switch-on
            now = self.clock.now_ms
            while self._next < len(self.samples) and self.samples[self._next][0] < now:
                self._next += 1

    def _running(self):
        return self.accel_odr_hz() > 0 and self.gyro_odr_hz() > 0

    # ------------------------------------------------------------ data
    def _enc(self, v, lsb):
        raw = int(round(v / lsb))
        if raw > 32767:
            raw = 32767
            self.clipped += 1
        elif raw < -32768:
            raw = -32768
            self.clipped += 1
        return raw & 0xFFFF

    def _encode(self, s):
        alsb = ACCEL_SENS_MG[self.accel_fs_g()] * 1e-3 * G
        glsb = math.radians(GYRO_SENS_MDPS[self.gyro_fs_dps()] * 1e-3)
        g = [self._enc(s[4 + i], glsb) for i in range(3)]
        a = [self._enc(s[1 + i], alsb) for i in range(3)]
        gb = bytes([g[0] & 255, g[0] >> 8, g[1] & 255, g[1] >> 8, g[2] & 255, g[2] >> 8])
        ab = bytes([a[0] & 255, a[0] >> 8, a[1] & 255, a[1] >> 8, a[2] & 255, a[2] >> 8])
        return gb, ab

    def _advance(self):
        if not self._running():
            return
        now = self.clock.now_ms
        while self._next < len(self.samples) and self.samples[self._next][0] <= now:
            i = self._next
            self._next += 1
            gb, ab = self._encode(self.samples[i])
            self.regs[OUTX_L_G:OUTX_L_G + 6] = gb
            self.regs[OUTX_L_A:OUTX_L_A + 6] = ab
            self.regs[STATUS_REG] |= 0x03
            self._cur = i
            self.produced += 1
            if self.has_fifo and (self.regs[FIFO_CTRL4] & 7) == 6:
                if self.regs[FIFO_CTRL3] >> 4:
                    self._push(TAG_GYRO, gb, i)
                if self.regs[FIFO_CTRL3] & 15:
                    self._push(TAG_ACCEL, ab, i)
            c5 = self.regs[DS3_FIFO_CTRL5]
            if self.ds3 and (c5 & 7) == 6 and (c5 >> 3) and \
                    self.regs[DS3_FIFO_CTRL3] == 0x09:   # both undecimated
                if len(self._words) + 6 > self.fifo_words:
                    del self._words[:6]                   # oldest sample lost
                    self._fifo_ovr = True
                data = gb + ab
                for k in range(6):
                    self._words.append((data[2 * k] | (data[2 * k + 1] << 8), k, i))

    def _push(self, tag, data, idx):
        if len(self._fifo) >= FIFO_WORDS:
            self._fifo.pop(0)          # continuous mode: oldest overwritten
            self._fifo_ovr = True
        self._fifo.append((tag, data, idx))

    def fifo_level(self):
        return len(self._fifo)

    def _read_reg(self, reg):
        if self.ds3 and FIFO_STATUS1 <= reg <= DS3_FIFO_DATA_OUT_L + 1:
            return self._read_ds3_fifo(reg)
        if reg == FIFO_STATUS1 and self.has_fifo:
            return len(self._fifo) & 0xFF
        if reg == FIFO_STATUS2 and self.has_fifo:
            v = (len(self._fifo) >> 8) & 3
            if self._fifo_ovr:
                v |= 0x48
            if len(self._fifo) >= FIFO_WORDS:
                v |= 0x20
            return v
        if self.has_fifo and FIFO_DATA_OUT_TAG <= reg <= FIFO_DATA_OUT_TAG + 6:
            if reg == FIFO_DATA_OUT_TAG or self._latch is None:
                if self._fifo:
                    tag, data, idx = self._fifo.pop(0)
                    self._latch = (bytes([tag << 3]) + data, tag, idx)
                    if not self._fifo:
                        self._fifo_ovr = False
                else:
                    self._latch = (bytes(7), 0, -1)
            b, tag, idx = self._latch
            if tag == TAG_ACCEL and idx >= 0:
                self.delivered.add(idx)
            return b[reg - FIFO_DATA_OUT_TAG]
        v = self.regs[reg & 0x7F]
        if OUTX_L_A <= reg <= OUTX_L_A + 5:
            self.regs[STATUS_REG] &= ~0x01 & 0xFF
            if self._cur >= 0:
                self.delivered.add(self._cur)
        elif OUTX_L_G <= reg <= OUTX_L_G + 5:
            self.regs[STATUS_REG] &= ~0x02 & 0xFF
        return v

    def _read_ds3_fifo(self, reg):
        w = self._words
        if reg == FIFO_STATUS1:
            return len(w) & 0xFF
        if reg == FIFO_STATUS2:
            v = (len(w) >> 8) & 0x0F
            if self._fifo_ovr:
                v |= 0x40
            if not w:
                v |= 0x10
            return v
        if reg in (DS3_FIFO_STATUS3, DS3_FIFO_STATUS4):
            pat = w[0][1] if w else 0
            return pat if reg == DS3_FIFO_STATUS3 else 0
        if reg == DS3_FIFO_DATA_OUT_L or self._latch is None:
            if w:
                val, pat, idx = w.pop(0)
                self._latch = (val, pat, idx)
                if pat == 5:
                    self.delivered.add(idx)
                if not w:
                    self._fifo_ovr = False
            else:
                self._latch = (0, 0, -1)
        val = self._latch[0]
        return val & 0xFF if reg == DS3_FIFO_DATA_OUT_L else val >> 8

    # ------------------------------------------------------------ I2C side
    def i2c_write(self, data):
        """An I2C write transaction: register pointer, then data bytes."""
        if not data:
            return
        self._advance()
        self._ptr = data[0] & 0x7F
        self._latch = None
        for b in data[1:]:
            self._write_reg(self._ptr, b)
            if self.regs[CTRL3_C] & 0x04:
                self._ptr = (self._ptr + 1) & 0x7F

    def i2c_read(self, n):
        """An I2C read transaction of ``n`` bytes from the register pointer."""
        self._advance()
        out = bytearray(n)
        for k in range(n):
            out[k] = self._read_reg(self._ptr)
            if self.regs[CTRL3_C] & 0x04:
                self._ptr = (self._ptr + 1) & 0x7F
        return bytes(out)


class EmuI2C:
    """busio.I2C look-alike with emulated devices.

    Implements what adafruit_bus_device.I2CDevice and the firmware use:
    ``try_lock``/``unlock``/``scan``/``writeto``/``readfrom_into``/
    ``writeto_then_readfrom``. Transfers need the lock (as on the board) and
    take bus time on ``clock`` at ``frequency`` (9 bit times per byte plus
    start/address), so polling costs emulated time. An absent address raises
    OSError (errno 19), like a NACK on CircuitPython.
    """

    def __init__(self, clock=None, devices=(), frequency=400000):
        self.clock = clock
        self.devices = {}
        for d in devices:
            self.devices[d.address] = d
        self.frequency = frequency
        self.locked = False
        self.transactions = 0
        self.stall_hook = None

    def try_lock(self):
        if self.locked:
            return False
        self.locked = True
        return True

    def unlock(self):
        if not self.locked:
            raise RuntimeError("unlock without lock")
        self.locked = False

    def deinit(self):
        pass

    def _need_lock(self):
        if not self.locked:
            raise RuntimeError("I2C used without try_lock()")

    def _cost(self, nbytes):
        self.transactions += 1
        if self.clock is not None and self.frequency:
            self.clock.advance_us((nbytes + 1) * 9 * 1e6 / self.frequency + 20)

    def _dev(self, address):
        d = self.devices.get(address)
        if d is None:
            raise OSError(19, "No such device")
        return d

    def scan(self):
        self._need_lock()
        return sorted(self.devices)

    def writeto(self, address, buffer, *, start=0, end=None):
        self._need_lock()
        if end is None:
            end = len(buffer)
        self._cost(end - start)
        self._dev(address).i2c_write(bytes(buffer[start:end]))

    def readfrom_into(self, address, buffer, *, start=0, end=None):
        self._need_lock()
        if end is None:
            end = len(buffer)
        self._cost(end - start)
        data = self._dev(address).i2c_read(end - start)
        buffer[start:end] = data

    def writeto_then_readfrom(self, address, buffer_out, buffer_in, *,
                              out_start=0, out_end=None, in_start=0, in_end=None):
        self._need_lock()
        if out_end is None:
            out_end = len(buffer_out)
        if in_end is None:
            in_end = len(buffer_in)
        self._cost(out_end - out_start + in_end - in_start + 1)
        dev = self._dev(address)
        dev.i2c_write(bytes(buffer_out[out_start:out_end]))
        buffer_in[in_start:in_end] = dev.i2c_read(in_end - in_start)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
