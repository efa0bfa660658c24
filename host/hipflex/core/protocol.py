"""hipflex wire protocol, version 1: one implementation for board and laptop.

MicroPython/CircuitPython-safe (deployed to the board unchanged). PROTOCOL.md
at the repository root is the specification; this module is its reference
implementation. Contents:

* framing: newline-delimited printable-ASCII lines (``LineReassembler`` turns
  arbitrary byte chunks, e.g. 20-byte BLE notifications, back into lines;
  ``chunks`` cuts an outgoing line into notification-sized pieces);
* device messages: ``encode`` / ``decode`` and one ``encode_*`` helper per
  message type (``decode`` returns a dict with typed values);
* host commands: ``encode_command`` / ``decode_command`` / ``sign_command``;
* authentication: ``Authenticator`` (single-use device nonces), HMAC-SHA256
  from ``hipflex.core.hmac256`` (pure Python; ``hashlib`` is used when the
  port has it);
* ``EventRing``: fixed-size RAM ring of events with replay after a sequence
  number; each event is a 32-byte record, no per-event allocation.

Times are integer milliseconds on the device clock; angles in degrees.
"""

import struct

from hipflex.core import profiles

PROTOCOL_VERSION = 1
FIRMWARE_VERSION = "0.1.0"

MAX_LINE = 200        # longest accepted line (bytes, without the newline)
NOTIFY_BYTES = 20     # BLE notification payload with the default ATT MTU (23)
MAX_VALUE = 40        # longest value / argument token (characters)
MAC_HEX = 32          # transmitted HMAC length: 16 bytes as 32 hex digits
NONCE_BYTES = 12      # device nonce length (24 hex digits)
NONCE_TTL_MS = 60000  # a nonce is valid this long after it was issued


class ProtocolError(ValueError):
    """Malformed or unknown message/command; ``str()`` says what is wrong."""


# --------------------------------------------------------------------------
# framing

class LineReassembler:
    """Reassemble newline-terminated lines from arbitrary byte chunks.

    ``feed(data)`` returns the list of complete lines (``str``, without the
    line end; a trailing ``\\r`` is removed). A line longer than ``max_line``
    bytes or containing a byte outside printable ASCII (0x20..0x7E; tab is
    accepted as a space) is discarded whole and counted in ``dropped``; the
    partial line buffer never exceeds ``max_line`` bytes.
    """

    def __init__(self, max_line=MAX_LINE):
        self.max_line = max_line
        self._buf = bytearray()
        self._skip = False   # inside an oversized / invalid line
        self.dropped = 0

    def reset(self):
        """Forget a partial line (call on (re)connection)."""
        self._buf = bytearray()
        self._skip = False

    def feed(self, data):
        out = []
        buf = self._buf
        for b in data:
            if b == 10:          # "\n"
                if self._skip:
                    self._skip = False
                elif buf:
                    if buf[-1] == 13:
                        buf = buf[:-1]
                    if len(buf) > self.max_line:
                        self.dropped += 1
                    elif buf:
                        out.append(bytes(buf).decode())
                buf = bytearray()
                continue
            if self._skip:
                continue
            if b == 9:
                b = 32
            if b == 13 or (32 <= b <= 126):
                if len(buf) >= self.max_line + 1:
                    # one extra byte allowed for a "\r" before "\n"
                    self._skip = True
                    self.dropped += 1
                    buf = bytearray()
                else:
                    buf.append(b)
            else:
                self._skip = True
                self.dropped += 1
                buf = bytearray()
        self._buf = buf
        return out

    @property
    def pending(self):
        """Bytes of the partial line held."""
        return len(self._buf)


def chunks(data, size=NOTIFY_BYTES):
    """Yield ``data`` (bytes) in slices of at most ``size`` bytes."""
    n = len(data)
    i = 0
    while i < n:
        yield data[i:i + size]
        i += size


# --------------------------------------------------------------------------
# message values

INT_KEYS = ("v", "seq", "t", "set", "n", "hold", "start", "peak", "prev",
            "val", "rate", "bat", "mv", "miss", "buf", "cap", "first",
            "last", "div", "fill", "rom10")
FLOAT_KEYS = ("rom",)

_VALUE_OK = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:+-"


def _check_value(s):
    """Raise ProtocolError unless ``s`` is a valid token value."""
    if not s or len(s) > MAX_VALUE:
        raise ProtocolError("bad value length")
    for c in s:
        if c not in _VALUE_OK:
            raise ProtocolError("bad character in value")
    return s


def _check_key(k):
    if not k or len(k) > 12:
        raise ProtocolError("bad key")
    for c in k:
        if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "_"):
            raise ProtocolError("bad key")
    return k


def _fmt(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "%.1f" % v
    return _check_value(str(v))


# --------------------------------------------------------------------------
# device -> host messages

# Required keys of each message type, in wire order. Receivers must ignore
# keys they do not know (later versions may append keys).
SCHEMA = {
    # events (stored in the ring buffer, replayable)
    "BOOT": ("dev", "boot", "seq", "t", "fw", "chip", "rate", "ex"),
    "REP": ("dev", "boot", "seq", "t", "ex", "set", "n", "rom", "hold",
            "start", "peak"),
    "SET": ("dev", "boot", "seq", "t", "ex", "set", "prev"),
    "EX": ("dev", "boot", "seq", "t", "ex", "set"),
    "PARAM": ("dev", "boot", "seq", "t", "key", "val"),
    # not buffered
    "HELLO": ("v", "fw", "dev", "boot", "name", "chip", "ex", "set", "n",
              "first", "last", "cap", "auth"),
    "ST": ("dev", "boot", "seq", "t", "ex", "set", "n", "bat", "mv", "miss",
           "buf", "cap", "hold"),
    "END": ("dev", "boot", "first", "last", "n"),
    "NONCE": ("nonce",),
    "OK": ("cmd",),
    "ERR": ("cmd", "code"),
}
EVENT_TYPES = ("BOOT", "REP", "SET", "EX", "PARAM")
RAW_TYPE = "R"   # positional: R t ax ay az gx gy gz (ms, mm/s^2, mrad/s)

ERROR_CODES = ("bad", "unknown", "args", "auth", "nonce", "nosecret",
               "range", "busy")


def encode(mtype, fields):
    """Encode one device message as a line (``str``, ending in ``\\n``).

    ``fields`` is a dict (or a list of ``(key, value)`` pairs); keys of the
    type's schema come first in schema order, any others follow sorted.
    Values: int, float (one decimal), or a token of ``[A-Za-z0-9_.:+-]``.
    """
    if mtype not in SCHEMA:
        raise ProtocolError("unknown message type %s" % mtype)
    if not isinstance(fields, dict):
        fields = dict(fields)
    parts = [mtype]
    order = SCHEMA[mtype]
    for k in order:
        if k not in fields:
            raise ProtocolError("%s needs %s" % (mtype, k))
        parts.append("%s=%s" % (k, _fmt(fields[k])))
    extra = [k for k in fields if k not in order]
    extra.sort()
    for k in extra:
        parts.append("%s=%s" % (_check_key(k), _fmt(fields[k])))
    line = " ".join(parts)
    if len(line) > MAX_LINE:
        raise ProtocolError("line too long")
    return line + "\n"


def decode(line):
    """Decode one device line into a dict with ``"type"`` and typed values.

    Known integer keys become ``int``, ``rom`` becomes ``float``, other values
    stay ``str``. A raw sample line ``R ...`` decodes to ``{"type": "R",
    "t": ms, "acc": (x, y, z) m/s^2, "gyr": (x, y, z) rad/s}``. Raises
    ProtocolError on anything malformed or missing a required key; unknown
    extra keys are kept (as strings).
    """
    if isinstance(line, (bytes, bytearray)):
        try:
            line = bytes(line).decode()
        except UnicodeError:
            raise ProtocolError("not ASCII")
    line = line.strip()
    if not line or len(line) > MAX_LINE:
        raise ProtocolError("empty or too long")
    toks = line.split()
    mtype = toks[0]
    if mtype == RAW_TYPE:
        return decode_raw(toks)
    if mtype not in SCHEMA:
        raise ProtocolError("unknown message type")
    msg = {"type": mtype}
    for tok in toks[1:]:
        i = tok.find("=")
        if i <= 0:
            raise ProtocolError("expected key=value")
        k = _check_key(tok[:i])
        v = _check_value(tok[i + 1:])
        if k in INT_KEYS:
            try:
                v = int(v)
            except ValueError:
                raise ProtocolError("%s must be an integer" % k)
        elif k in FLOAT_KEYS:
            try:
                v = float(v)
            except ValueError:
                raise ProtocolError("%s must be a number" % k)
        msg[k] = v
    for k in SCHEMA[mtype]:
        if k not in msg:
            raise ProtocolError("%s without %s" % (mtype, k))
    return msg


def encode_raw(t_ms, ax, ay, az, gx, gy, gz):
    """Raw sample line; acceleration m/s^2 and rate rad/s sent as integer
    milli-units (mm/s^2, mrad/s) to keep the line short."""
    return "R %d %d %d %d %d %d %d\n" % (
        t_ms, int(round(ax * 1000)), int(round(ay * 1000)),
        int(round(az * 1000)), int(round(gx * 1000)),
        int(round(gy * 1000)), int(round(gz * 1000)))


def decode_raw(toks):
    if isinstance(toks, str):
        toks = toks.split()
    if len(toks) != 8 or toks[0] != RAW_TYPE:
        raise ProtocolError("raw sample needs 7 numbers")
    try:
        v = [int(x) for x in toks[1:]]
    except ValueError:
        raise ProtocolError("raw sample values must be integers")
    return {"type": RAW_TYPE, "t": v[0],
            "acc": (v[1] / 1000.0, v[2] / 1000.0, v[3] / 1000.0),
            "gyr": (v[4] / 1000.0, v[5] / 1000.0, v[6] / 1000.0)}


def encode_rep(dev, boot, seq, t, ex, set_no, n, rom, hold, start, peak):
    """REP event: ``t`` = end of the rep (ms), ``rom`` degrees, ``hold`` ms,
    ``start``/``peak`` ms on the same clock, ``n`` = count in the set."""
    return encode("REP", {"dev": dev, "boot": boot, "seq": seq, "t": t,
                          "ex": ex, "set": set_no, "n": n,
                          "rom": float(rom), "hold": hold, "start": start,
                          "peak": peak})


def encode_boot(dev, boot, seq, t, fw, chip, rate, ex):
    return encode("BOOT", {"dev": dev, "boot": boot, "seq": seq, "t": t,
                           "fw": fw, "chip": chip, "rate": rate, "ex": ex})


def encode_set(dev, boot, seq, t, ex, set_no, prev):
    """SET event: set number ``set_no`` started; ``prev`` = reps in the
    set that ended."""
    return encode("SET", {"dev": dev, "boot": boot, "seq": seq, "t": t,
                          "ex": ex, "set": set_no, "prev": prev})


def encode_ex(dev, boot, seq, t, ex, set_no):
    return encode("EX", {"dev": dev, "boot": boot, "seq": seq, "t": t,
                         "ex": ex, "set": set_no})


def encode_param(dev, boot, seq, t, key, val):
    return encode("PARAM", {"dev": dev, "boot": boot, "seq": seq, "t": t,
                            "key": key, "val": val})


def encode_hello(dev, boot, name, chip, ex, set_no, n, first, last, cap,
                 auth):
    """Reply to ``hello``. ``first``/``last``: oldest and newest event seq
    held (``first`` > ``last`` when the buffer is empty); ``auth`` is
    ``hmac-sha256`` or ``none`` (no secret configured)."""
    return encode("HELLO", {"v": PROTOCOL_VERSION, "fw": FIRMWARE_VERSION,
                            "dev": dev, "boot": boot, "name": name,
                            "chip": chip, "ex": ex, "set": set_no, "n": n,
                            "first": first, "last": last, "cap": cap,
                            "auth": auth})


def encode_status(dev, boot, seq, t, ex, set_no, n, bat, mv, miss, buf, cap,
                  hold):
    """Periodic status. ``seq`` = newest event seq, ``bat`` percent (-1
    unknown), ``mv`` battery millivolts (0 unknown), ``miss`` = samples
    missed since boot, ``buf`` = events buffered of ``cap``, ``hold`` =
    current hold in ms (0 when not holding)."""
    return encode("ST", {"dev": dev, "boot": boot, "seq": seq, "t": t,
                         "ex": ex, "set": set_no, "n": n, "bat": bat,
                         "mv": mv, "miss": miss, "buf": buf, "cap": cap,
                         "hold": hold})


def encode_end(dev, boot, first, last, n):
    """End of a replay: ``n`` events sent; ``first``/``last`` held now."""
    return encode("END", {"dev": dev, "boot": boot, "first": first,
                          "last": last, "n": n})


def encode_nonce(nonce_hex):
    return encode("NONCE", {"nonce": nonce_hex})


def encode_ok(cmd, extra=None):
    f = {"cmd": cmd}
    if extra:
        f.update(extra)
    return encode("OK", f)


def encode_err(cmd, code):
    return encode("ERR", {"cmd": cmd or "none", "code": code})


# --------------------------------------------------------------------------
# host -> device commands

# name: (min args, max args, needs auth)
COMMANDS = {
    "hello": (0, 0, False),
    "version": (0, 0, False),
    "status": (0, 0, False),
    "replay": (1, 1, False),
    "nonce": (0, 0, False),
    "raw": (1, 2, False),
    "ex": (1, 1, True),
    "set": (2, 2, True),
    "new": (0, 0, True),
    "reset": (0, 0, True),
    "erase": (0, 0, True),
}


def encode_command(name, *args):
    """Command line (``str`` ending in ``\\n``), e.g. ``replay 17``."""
    parts = [name]
    for a in args:
        parts.append(_check_value(str(a)))
    line = " ".join(parts)
    if len(line) > MAX_LINE:
        raise ProtocolError("line too long")
    return line + "\n"


def decode_command(line):
    """Parse a command line into ``(name, args, mac)``.

    ``name`` is lower-cased, ``args`` a tuple of strings, ``mac`` the hex
    string of a trailing ``mac=...`` token or None. Raises ProtocolError
    (``.code`` one of ERROR_CODES) for anything unknown or malformed.
    """
    if isinstance(line, (bytes, bytearray)):
        line = bytes(line).decode()
    toks = line.split()
    if not toks:
        raise _perr("empty command", "bad")
    if len(line) > MAX_LINE or len(toks) > 8:
        raise _perr("command too long", "bad")
    name = toks[0].lower()
    if name not in COMMANDS:
        raise _perr("unknown command", "unknown")
    mac = None
    if toks[-1].startswith("mac="):
        mac = toks.pop()[4:]
        if len(mac) != MAC_HEX or not _is_hex(mac):
            raise _perr("bad mac", "auth")
    args = toks[1:]
    lo, hi, _ = COMMANDS[name]
    if not lo <= len(args) <= hi:
        raise _perr("wrong number of arguments", "args")
    for a in args:
        try:
            _check_value(a)
        except ProtocolError:
            raise _perr("bad argument", "args")
    return name, tuple(args), mac


def _perr(msg, code):
    e = ProtocolError(msg)
    e.code = code
    return e


def canonical_command(name, args):
    """The text a MAC covers: lower-case name and arguments, single spaces."""
    return " ".join([name.lower()] + [str(a) for a in args])


def command_mac(secret, dev, nonce_hex, name, args):
    """Hex MAC (MAC_HEX digits) of command ``name args`` for device ``dev``
    and the nonce it issued."""
    msg = "%s %s %s" % (dev, nonce_hex, canonical_command(name, args))
    return _hex(hmac_sha256(_to_bytes(secret), msg.encode())[:MAC_HEX // 2])


def sign_command(secret, dev, nonce_hex, name, *args):
    """Authenticated command line: ``name args... mac=<hex>\\n``."""
    mac = command_mac(secret, dev, nonce_hex, name, args)
    line = encode_command(name, *args)
    return line[:-1] + " mac=" + mac + "\n"


class Authenticator:
    """Device-side proof-of-secret check, one instance per link.

    ``issue(now_ms)`` returns a fresh random nonce (hex) and forgets the
    previous one. ``check(name, args, mac, now_ms)`` returns None when the
    MAC is right for the current nonce, else an error code (``nosecret``,
    ``nonce``, ``auth``); every check consumes the nonce, so a recorded
    command can never be accepted twice. ``random_bytes(n)`` supplies the
    nonce bytes (``os.urandom`` on the board).
    """

    def __init__(self, secret, dev, random_bytes, ttl_ms=NONCE_TTL_MS):
        self._key = _to_bytes(secret) if secret else b""
        if self._key:
            # load the hash code now, while the heap is not fragmented
            from hipflex.core import hmac256  # noqa: F401
        self._dev = dev
        self._rand = random_bytes
        self._ttl = ttl_ms
        self._nonce = None
        self._issued = 0

    @property
    def enabled(self):
        return bool(self._key)

    def issue(self, now_ms):
        self._nonce = _hex(self._rand(NONCE_BYTES))
        self._issued = now_ms
        return self._nonce

    def check(self, name, args, mac, now_ms):
        if not self._key:
            return "nosecret"
        nonce = self._nonce
        self._nonce = None
        if nonce is None or now_ms - self._issued > self._ttl \
                or now_ms < self._issued:
            return "nonce"
        if mac is None:
            return "auth"
        msg = "%s %s %s" % (self._dev, nonce, canonical_command(name, args))
        want = _hex(hmac_sha256(self._key, msg.encode())[:MAC_HEX // 2])
        if not compare_digest(want, mac.lower()):
            return "auth"
        return None


def _is_hex(s):
    for c in s:
        if c not in "0123456789abcdefABCDEF":
            return False
    return True


def _hex(b):
    return "".join(["%02x" % x for x in b])


def _to_bytes(s):
    if isinstance(s, str):
        return s.encode()
    return bytes(s)


def compare_digest(a, b):
    """Constant-time equality of two strings or byte strings."""
    if len(a) != len(b):
        return False
    r = 0
    if isinstance(a, str):
        for i in range(len(a)):
            r |= ord(a[i]) ^ ord(b[i])
    else:
        for i in range(len(a)):
            r |= a[i] ^ b[i]
    return r == 0


# --------------------------------------------------------------------------
# SHA-256 / HMAC: in hipflex.core.hmac256, loaded on first use (it costs
# several kB of RAM on the board and is only needed for authentication)

def sha256(data):
    """SHA-256 digest (32 bytes): ``hashlib`` where the port has it."""
    from hipflex.core import hmac256
    return hmac256.sha256(data)


def sha256_pure(data):
    """SHA-256 digest (32 bytes) in plain Python."""
    from hipflex.core import hmac256
    return hmac256.sha256_pure(data)


def hmac_sha256(key, msg, hash_fn=None):
    """HMAC-SHA256 (RFC 2104) of ``msg`` under ``key`` (both bytes)."""
    from hipflex.core import hmac256
    return hmac256.hmac_sha256(key, msg, hash_fn)


# --------------------------------------------------------------------------
# event ring buffer

K_BOOT = 1
K_REP = 2
K_SET = 3
K_EX = 4
K_PARAM = 5
KIND_NAMES = (None, "BOOT", "REP", "SET", "EX", "PARAM")

# Chip names carried in BOOT/HELLO; the index is what the ring stores.
CHIPS = ("none", "LSM6DS33", "LSM6DS3TRC", "LSM6DSOX", "LSM6DSO32",
         "ISM330DHCX", "LSM6DS3", "emulated")

PARAM_KEYS = tuple(sorted(profiles.DEFAULTS.keys()))

# kind, exercise index, set, seq, t, a, b, c, d, n, spare
_REC = "<BBHIIiiiiHH"
_M32 = 0xFFFFFFFF
REC_SIZE = 32


class EventRing:
    """The last ``capacity`` events, with sequence numbers from 1.

    Memory is one preallocated bytearray (32 bytes per event). ``append``
    overwrites the oldest event when full. A record is the tuple
    ``(kind, ex, set, seq, t, a, b, c, d, n)``; the meaning of a..d per kind:

    * K_BOOT: a = firmware version (major*10000 + minor*100 + patch),
      b = chip index in CHIPS, c = sample rate (Hz)
    * K_REP: a = start ms, b = peak ms, c = ROM in 0.1 deg, d = hold ms,
      n = count in the set
    * K_SET: n = reps in the set that ended
    * K_EX: (none)
    * K_PARAM: a = index in PARAM_KEYS, b = value
    """

    def __init__(self, capacity=256):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._buf = bytearray(capacity * REC_SIZE)
        self._next = 1     # seq of the next event
        self._count = 0

    def __len__(self):
        return self._count

    @property
    def last_seq(self):
        """Newest seq (0 before the first event)."""
        return self._next - 1

    @property
    def first_seq(self):
        """Oldest seq held (last_seq + 1 when empty)."""
        return self._next - self._count

    def append(self, kind, t, ex=0, set_no=0, a=0, b=0, c=0, d=0, n=0):
        """Store an event; returns its sequence number."""
        seq = self._next
        off = (seq % self.capacity) * REC_SIZE
        struct.pack_into(_REC, self._buf, off, kind & 0xFF, ex & 0xFF,
                         set_no & 0xFFFF, seq & _M32, t & _M32, a, b, c, d,
                         n & 0xFFFF, 0)
        self._next = seq + 1
        if self._count < self.capacity:
            self._count += 1
        return seq

    def get(self, seq):
        """The record with sequence ``seq``, or None if not held."""
        if seq < self.first_seq or seq > self.last_seq:
            return None
        r = struct.unpack_from(_REC, self._buf,
                               (seq % self.capacity) * REC_SIZE)
        return r[:10]

    def next_after(self, seq):
        """Sequence number of the oldest held event newer than ``seq``,
        or None when there is none."""
        s = seq + 1
        if s < self.first_seq:
            s = self.first_seq
        if s > self.last_seq:
            return None
        return s

    def after(self, seq):
        """Iterate records newer than ``seq`` (oldest first)."""
        s = self.next_after(seq)
        while s is not None:
            r = self.get(s)
            if r is not None:
                yield r
            s = self.next_after(s)

    def clear(self):
        """Drop all events; sequence numbers keep counting."""
        self._count = 0


def format_event(rec, dev, boot):
    """Encode a ring record as its event line."""
    kind, ex, set_no, seq, t, a, b, c, d, n = rec
    exn = exercise_name(ex)
    if kind == K_REP:
        return encode_rep(dev, boot, seq, t, exn, set_no, n, c / 10.0, d, a,
                          b)
    if kind == K_SET:
        return encode_set(dev, boot, seq, t, exn, set_no, n)
    if kind == K_EX:
        return encode_ex(dev, boot, seq, t, exn, set_no)
    if kind == K_PARAM:
        key = PARAM_KEYS[a] if 0 <= a < len(PARAM_KEYS) else "p%d" % a
        return encode_param(dev, boot, seq, t, key, b)
    if kind == K_BOOT:
        fw = "%d.%d.%d" % (a // 10000, (a // 100) % 100, a % 100)
        chip = CHIPS[b] if 0 <= b < len(CHIPS) else "unknown"
        return encode_boot(dev, boot, seq, t, fw, chip, c, exn)
    raise ProtocolError("bad event kind")


def firmware_code(version=FIRMWARE_VERSION):
    p = version.split(".")
    return int(p[0]) * 10000 + int(p[1]) * 100 + int(p[2])


def exercise_index(name):
    """Index of exercise ``name`` in profiles.NAMES (KeyError if unknown)."""
    for i in range(len(profiles.NAMES)):
        if profiles.NAMES[i] == name:
            return i
    raise KeyError(name)


def exercise_name(i):
    if 0 <= i < len(profiles.NAMES):
        return profiles.NAMES[i]
    return "ex%d" % i
