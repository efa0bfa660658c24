# Long run of the shared core, protocol and event ring under MicroPython.
# Usage: micropython -X heapsize=96k heap_run.py LIBDIR EMUDIR MINUTES
# Prints "RESULT samples reps events alloc0 alloc_max alloc_end" or "MEMORYERROR".
import gc
import sys

sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[1])
minutes = int(sys.argv[3]) if len(sys.argv) > 3 else 30

from hipflex.core import profiles
from hipflex.core import protocol as P
from hipflex.core.detector import Detector
import synth

BLOCK = [("rest", 8), ("reps", 12, 60, 0.6, 0.0, 0.7, 0.5), ("rest", 4),
         ("reps", 3, 70, 0.8, 3.0, 0.8, 1.5), ("rest", 5)]
BLOCK_MS = int(synth.timeline(BLOCK)[2] * 1000)


def main():
    det = Detector(profiles.get("standing_march"))
    ring = P.EventRing(256)
    rx = P.LineReassembler()
    auth = P.Authenticator("0123456789abcdef", "5f3a91c2", lambda n: bytes(range(n)))
    dev = "5f3a91c2"
    boot = "8c01d2e4"
    ex_i = P.exercise_index("standing_march")
    end_ms = minutes * 60000
    samples = reps = 0
    next_status = 5000
    next_mem = 60000
    allocs = []
    off = 0
    block = 0
    gc.collect()
    while off < end_ms:
        for s in synth.samples(BLOCK, seed=block + 1):
            t = s[0] + off
            if t >= end_ms:
                break
            samples += 1
            r = det.update(t, s[1], s[2], s[3], s[4], s[5], s[6])
            if r is not None:
                reps += 1
                seq = ring.append(P.K_REP, r.end_ms, ex_i, 1, r.start_ms,
                                  r.peak_ms, int(r.rom_deg * 10), r.hold_ms,
                                  det.count)
                line = P.format_event(ring.get(seq), dev, boot)
                for ln in rx.feed(line.encode()):
                    P.decode(ln)
            if t >= next_status:
                next_status += 5000
                P.encode_status(dev, boot, ring.last_seq, t, "standing_march",
                                1, det.count, 80, 3900, 0, len(ring), 256, 0)
                # a host asks for a replay and an authenticated change
                name, args, mac = P.decode_command("replay %d" % (ring.last_seq - 3))
                for rec in ring.after(int(args[0])):
                    P.format_event(rec, dev, boot)
                nonce = auth.issue(t)
                line = P.sign_command("0123456789abcdef", dev, nonce, "set",
                                      "min_rom_deg", "20")
                name, args, mac = P.decode_command(line)
                if auth.check(name, args, mac, t) is not None:
                    print("AUTHFAIL")
            if t >= next_mem:
                next_mem += 60000
                gc.collect()
                allocs.append(gc.mem_alloc())
        off += BLOCK_MS
        block += 1
    gc.collect()
    allocs.append(gc.mem_alloc())
    print("RESULT", samples, reps, ring.last_seq, allocs[0], max(allocs), allocs[-1])
    print("ALLOCS", " ".join([str(a) for a in allocs]))


try:
    main()
except MemoryError:
    print("MEMORYERROR")
