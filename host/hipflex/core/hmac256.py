"""SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain Python.

MicroPython/CircuitPython-safe: CircuitPython on nRF52 has no ``hmac`` and
no ``hashlib``; where ``hashlib.sha256`` exists it is used instead of the
pure version. Imported lazily by hipflex.core.protocol.
"""

import struct


_K = (
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2)
_H0 = (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f,
       0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
_M32 = 0xFFFFFFFF


def _rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & _M32


def sha256_pure(data):
    """SHA-256 digest (32 bytes) of ``data`` in plain Python."""
    data = bytes(data)
    n = len(data)
    pad = b"\x80" + b"\x00" * ((55 - n) % 64) + struct.pack(">Q", n * 8)
    msg = data + pad
    h = list(_H0)
    w = [0] * 64
    for off in range(0, len(msg), 64):
        for i in range(16):
            w[i] = struct.unpack(">I", msg[off + 4 * i:off + 4 * i + 4])[0]
        for i in range(16, 64):
            x = w[i - 15]
            y = w[i - 2]
            s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> 3)
            s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> 10)
            w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & _M32
        a, b, c, d, e, f, g, hh = h
        for i in range(64):
            S1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
            ch = (e & f) ^ ((~e & _M32) & g)
            t1 = (hh + S1 + ch + _K[i] + w[i]) & _M32
            S0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
            maj = (a & b) ^ (a & c) ^ (b & c)
            t2 = (S0 + maj) & _M32
            hh = g
            g = f
            f = e
            e = (d + t1) & _M32
            d = c
            c = b
            b = a
            a = (t1 + t2) & _M32
        h = [(h[0] + a) & _M32, (h[1] + b) & _M32, (h[2] + c) & _M32,
             (h[3] + d) & _M32, (h[4] + e) & _M32, (h[5] + f) & _M32,
             (h[6] + g) & _M32, (h[7] + hh) & _M32]
    return struct.pack(">8I", *h)


def _native_sha256():
    try:
        import hashlib
        f = hashlib.sha256
        if f(b"abc").digest()[:2] == b"\xba\x78":
            return lambda d: f(bytes(d)).digest()
    except Exception:  # no hashlib / no sha256 on this port
        pass
    return None


_native = _native_sha256()
sha256 = _native or sha256_pure


def hmac_sha256(key, msg, hash_fn=None):
    """HMAC-SHA256 (RFC 2104) of ``msg`` under ``key`` (both bytes)."""
    h = hash_fn or sha256
    key = bytes(key)
    if len(key) > 64:
        key = h(key)
    pad = bytearray(64)
    for i in range(len(key)):
        pad[i] = key[i] ^ 0x36
    for i in range(len(key), 64):
        pad[i] = 0x36
    inner = h(bytes(pad) + bytes(msg))
    for i in range(64):
        pad[i] ^= 0x36 ^ 0x5c
    return h(bytes(pad) + inner)
