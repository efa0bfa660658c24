# Runs under the MicroPython unix port (and CPython): feed a recording through
# the shared core and print one line per rep. Usage:
#   micropython mp_detect.py HOST_DIR FILE.csv PROFILE
import sys

sys.path.insert(0, sys.argv[1])
import math  # noqa: E402

from hipflex.core import profiles  # noqa: E402
from hipflex.core.detector import Detector  # noqa: E402

det = Detector(profiles.get(sys.argv[3]))
f = open(sys.argv[2])
f.readline()
n = 0
for line in f:
    c = line.split(",")
    if len(c) != 7:
        continue
    t = int(math.floor(float(c[0]) * 1000.0 + 0.5))
    r = det.update(t, float(c[1]), float(c[2]), float(c[3]),
                   float(c[4]), float(c[5]), float(c[6]))
    n += 1
    if r is not None:
        print("REP %d %d %d %.3f %d" % (r.start_ms, r.peak_ms, r.end_ms, r.rom_deg, r.hold_ms))
r = det.flush()
while r is not None:
    print("REP %d %d %d %.3f %d" % (r.start_ms, r.peak_ms, r.end_ms, r.rom_deg, r.hold_ms))
    r = det.flush()
print("SAMPLES %d" % n)
