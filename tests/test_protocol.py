"""Protocol: encode/decode round trips, framing, HMAC, ring buffer, fuzzing."""

import hashlib
import hmac
import os

import pytest

from hipflex.core import profiles
from hipflex.core import protocol as P

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

DEV = "5f3a91c2"
BOOT = "8c01d2e4"


# ---------------------------------------------------------------- messages

def _all_messages():
    return [
        P.encode_boot(DEV, BOOT, 1, 0, "0.1.0", "LSM6DS33", 104, "auto"),
        P.encode_rep(DEV, BOOT, 2, 81005, "standing_march", 2, 6, 63.4, 0,
                     80120, 80540),
        P.encode_set(DEV, BOOT, 3, 90000, "lunge", 3, 12),
        P.encode_ex(DEV, BOOT, 4, 90001, "v_sit_hold", 3),
        P.encode_param(DEV, BOOT, 5, 90002, "min_rom_deg", 15),
        P.encode_hello(DEV, BOOT, "hipflex-91c2", "LSM6DSOX", "auto", 1, 0,
                       1, 5, 256, "hmac-sha256"),
        P.encode_status(DEV, BOOT, 5, 95000, "auto", 1, 0, 87, 3950, 3, 5,
                        256, 0),
        P.encode_end(DEV, BOOT, 1, 5, 5),
        P.encode_nonce("00112233445566778899aabb"),
        P.encode_ok("ex"),
        P.encode_err("set", "auth"),
    ]


def test_every_message_round_trips():
    types = set()
    for line in _all_messages():
        assert line.endswith("\n") and len(line) <= P.MAX_LINE + 1
        msg = P.decode(line)
        types.add(msg["type"])
        # re-encoding the decoded dict gives the same line
        fields = dict(msg)
        del fields["type"]
        assert P.encode(msg["type"], fields) == line
    assert types == set(P.SCHEMA)


def test_rep_values_are_typed():
    m = P.decode(P.encode_rep(DEV, BOOT, 7, 1000, "lunge", 1, 3, 45.26,
                              1500, 100, 400))
    assert m["seq"] == 7 and m["t"] == 1000 and m["n"] == 3
    assert m["rom"] == pytest.approx(45.3) and isinstance(m["rom"], float)
    assert m["hold"] == 1500 and m["ex"] == "lunge" and m["dev"] == DEV


def test_decode_ignores_unknown_keys_but_requires_schema_keys():
    line = P.encode_end(DEV, BOOT, 1, 2, 2).strip() + " future=abc\n"
    assert P.decode(line)["future"] == "abc"
    with pytest.raises(P.ProtocolError):
        P.decode("END dev=%s boot=%s first=1 last=2\n" % (DEV, BOOT))
    with pytest.raises(P.ProtocolError):
        P.decode("REP seq=x")
    with pytest.raises(P.ProtocolError):
        P.decode("NOPE a=1")


def test_raw_round_trip():
    line = P.encode_raw(1234, -0.1234, 9.80665, 0.2, 0.01, -0.0206, 1.5)
    m = P.decode(line)
    assert m["t"] == 1234
    assert m["acc"] == pytest.approx((-0.123, 9.807, 0.2), abs=1e-3)
    assert m["gyr"] == pytest.approx((0.01, -0.021, 1.5), abs=1e-3)
    with pytest.raises(P.ProtocolError):
        P.decode("R 1 2 3")


def test_encode_refuses_bad_values():
    with pytest.raises(P.ProtocolError):
        P.encode_ex(DEV, BOOT, 1, 0, "has space", 1)
    with pytest.raises(P.ProtocolError):
        P.encode("OK", {})
    with pytest.raises(P.ProtocolError):
        P.encode("OK", {"cmd": "x" * 300})


# ---------------------------------------------------------------- commands

def test_commands_round_trip():
    for name, args in [("hello", ()), ("replay", ("17",)), ("raw", ("on", "2")),
                       ("ex", ("lunge",)), ("set", ("min_rom_deg", "15")),
                       ("new", ()), ("erase", ()), ("reset", ()), ("nonce", ())]:
        line = P.encode_command(name, *args)
        assert P.decode_command(line) == (name, args, None)


def test_command_errors_carry_codes():
    cases = [("", "bad"), ("bogus", "unknown"), ("replay", "args"),
             ("replay 1 2", "args"), ("set a", "args"), ("ex bad!name", "args"),
             ("new mac=zz", "auth"), ("x" * 300, "bad")]
    for line, code in cases:
        with pytest.raises(P.ProtocolError) as ei:
            P.decode_command(line)
        assert ei.value.code == code, line


def test_command_name_case_insensitive():
    assert P.decode_command("HELLO\r")[0] == "hello"


# ---------------------------------------------------------------- crypto

@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_sha256_pure_matches_hashlib(data):
    assert P.sha256_pure(data) == hashlib.sha256(data).digest()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=150), st.binary(max_size=200))
def test_hmac_matches_cpython(key, msg):
    want = hmac.new(key, msg, hashlib.sha256).digest()
    assert P.hmac_sha256(key, msg, P.sha256_pure) == want
    assert P.hmac_sha256(key, msg) == want


def test_sha256_block_boundaries():
    for n in (0, 55, 56, 63, 64, 65, 119, 120, 128):
        d = bytes(range(256))[:n] if n <= 256 else b""
        assert P.sha256_pure(d) == hashlib.sha256(d).digest()


def test_authenticator_accepts_signed_command_once():
    secret = "correct horse battery"
    a = P.Authenticator(secret, DEV, os.urandom)
    nonce = a.issue(1000)
    assert len(nonce) == 2 * P.NONCE_BYTES
    line = P.sign_command(secret, DEV, nonce, "set", "min_rom_deg", 15)
    name, args, mac = P.decode_command(line)
    assert a.check(name, args, mac, 1500) is None
    # replaying the very same line fails: the nonce is gone
    assert a.check(name, args, mac, 1600) == "nonce"
    # a fresh nonce does not make the old MAC valid
    a.issue(2000)
    assert a.check(name, args, mac, 2100) == "auth"


def test_authenticator_rejects_tampering_wrong_secret_and_expiry():
    secret = "s3cret-s3cret-s3cret"
    a = P.Authenticator(secret, DEV, os.urandom)
    nonce = a.issue(0)
    _, _, mac = P.decode_command(P.sign_command(secret, DEV, nonce, "set",
                                                "min_rom_deg", "15"))
    assert a.check("set", ("min_rom_deg", "16"), mac, 10) == "auth"
    nonce = a.issue(0)
    _, _, mac = P.decode_command(P.sign_command("wrong", DEV, nonce, "new"))
    assert a.check("new", (), mac, 10) == "auth"
    nonce = a.issue(0)
    _, _, mac = P.decode_command(P.sign_command(secret, DEV, nonce, "new"))
    assert a.check("new", (), mac, P.NONCE_TTL_MS + 1) == "nonce"
    # bound to the device id
    nonce = a.issue(0)
    _, _, mac = P.decode_command(P.sign_command(secret, "00000000", nonce, "new"))
    assert a.check("new", (), mac, 10) == "auth"
    assert P.Authenticator("", DEV, os.urandom).check("new", (), mac, 0) == "nosecret"


def test_mac_matches_documented_construction():
    secret, nonce = "abc", "00112233445566778899aabb"
    msg = ("%s %s ex lunge" % (DEV, nonce)).encode()
    want = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:32]
    assert P.sign_command(secret, DEV, nonce, "EX", "lunge").endswith(
        "mac=%s\n" % want)


def test_compare_digest():
    assert P.compare_digest("abc", "abc")
    assert not P.compare_digest("abc", "abd")
    assert not P.compare_digest("abc", "ab")
    assert P.compare_digest(b"\x01\x02", b"\x01\x02")


# ---------------------------------------------------------------- framing

def test_reassembler_handles_20_byte_chunks():
    lines = _all_messages()
    data = "".join(lines).encode()
    ra = P.LineReassembler()
    got = []
    for piece in P.chunks(data, P.NOTIFY_BYTES):
        assert len(piece) <= 20
        got.extend(ra.feed(piece))
    assert got == [x.rstrip("\n") for x in lines]
    assert [P.decode(g)["type"] for g in got] == [P.decode(x)["type"] for x in lines]


def test_reassembler_drops_oversize_and_binary_lines_whole():
    ra = P.LineReassembler(max_line=10)
    assert ra.feed(b"x" * 11 + b"\nok\n") == ["ok"]
    assert ra.feed(b"a\x00b\nfine\r\n") == ["fine"]
    assert ra.dropped == 2
    assert ra.feed(b"y" * 10 + b"\r\n") == ["y" * 10]
    ra.feed(b"partial")
    ra.reset()
    assert ra.feed(b"hello\n") == ["hello"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=30))
def test_reassembler_fuzz(chunks):
    ra = P.LineReassembler()
    for c in chunks:
        for line in ra.feed(c):
            assert 0 < len(line) <= P.MAX_LINE
            assert all(32 <= ord(ch) <= 126 for ch in line)
        assert ra.pending <= P.MAX_LINE + 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=250))
def test_decoders_never_raise_anything_but_protocol_error(text):
    for f in (P.decode, P.decode_command):
        try:
            f(text)
        except P.ProtocolError:
            pass


# ---------------------------------------------------------------- ring

def test_ring_keeps_last_capacity_events_and_replays_after():
    r = P.EventRing(256)
    assert (r.first_seq, r.last_seq, len(r)) == (1, 0, 0)
    assert list(r.after(0)) == []
    for i in range(300):
        s = r.append(P.K_REP, 1000 + i, 1, 1, i, i + 5, 400 + i, 0, i + 1)
        assert s == i + 1
    assert len(r) == 256 and r.first_seq == 45 and r.last_seq == 300
    assert r.get(44) is None and r.get(301) is None
    got = list(r.after(0))
    assert [g[3] for g in got] == list(range(45, 301))
    rec = r.get(300)
    assert rec == (P.K_REP, 1, 1, 300, 1299, 299, 304, 699, 0, 300)
    assert [g[3] for g in r.after(290)] == list(range(291, 301))
    assert list(r.after(300)) == []
    r.clear()
    assert len(r) == 0 and r.first_seq == 301
    assert r.append(P.K_SET, 5) == 301


def test_format_event_for_every_kind():
    r = P.EventRing(8)
    ex = P.exercise_index("lunge")
    r.append(P.K_BOOT, 0, ex, 1, P.firmware_code("0.1.0"),
             P.CHIPS.index("ISM330DHCX"), 104)
    r.append(P.K_REP, 900, ex, 1, 100, 400, 634, 1200, 1)
    r.append(P.K_SET, 1000, ex, 2, n=1)
    r.append(P.K_EX, 1100, 0, 2)
    r.append(P.K_PARAM, 1200, 0, 2, P.PARAM_KEYS.index("entry_deg"), 9)
    msgs = [P.decode(P.format_event(rec, DEV, BOOT)) for rec in r.after(0)]
    assert [m["type"] for m in msgs] == ["BOOT", "REP", "SET", "EX", "PARAM"]
    assert msgs[0]["fw"] == "0.1.0" and msgs[0]["chip"] == "ISM330DHCX"
    assert msgs[1]["rom"] == 63.4 and msgs[1]["hold"] == 1200
    assert msgs[1]["ex"] == "lunge"
    assert msgs[2]["prev"] == 1 and msgs[2]["set"] == 2
    assert msgs[3]["ex"] == profiles.NAMES[0]
    assert msgs[4]["key"] == "entry_deg" and msgs[4]["val"] == 9
    assert [m["seq"] for m in msgs] == [1, 2, 3, 4, 5]
