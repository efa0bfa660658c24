"""On-board self-test: copy to CIRCUITPY and run ``import selftest`` in the REPL.

Prints the IMU found, the achieved sample rate, time per sensor read and per
core update, free memory and the BLE/USB link state, and sends a test line
over each connected link (in notification-sized chunks). ``run()`` takes the
hardware as parameters so it also runs against emulated parts.
"""

import gc
import time


def _us_timer():
    if hasattr(time, "monotonic_ns"):
        return lambda: time.monotonic_ns() // 1000
    return lambda: int(time.monotonic() * 1000000)


def run(hw=None, seconds=3, out=print, now_us=None):
    """Return a dict of results; ``hw`` as from hipflex_app.hardware.build()."""
    from hipflex.core import profiles
    from hipflex.core import protocol as P
    from hipflex.core.detector import Detector
    from hipflex_app.config import Config
    from hipflex_app.sensor import IMU, SensorNotFound

    if hw is None:
        from hipflex_app.hardware import build
        hw = build()
    if now_us is None:
        now_us = _us_timer()
    settings = hw.get("settings") or {}
    cfg = Config(settings.get if isinstance(settings, dict) else settings)
    clock = hw["clock"]
    res = {"chip": "none"}
    out("hipflex self-test, protocol v%d, firmware %s" % (P.PROTOCOL_VERSION, P.FIRMWARE_VERSION))
    try:
        imu = IMU(hw["i2c"], clock, cfg.rate_hz, cfg.imu, cfg.fifo)
    except SensorNotFound as e:
        out("IMU: NOT FOUND: %s" % e)
        imu = None
    samples = []
    if imu is not None:
        res["chip"] = imu.name
        out("IMU: %s at 0x%02x, %s, +-%d g, +-%d dps" % (
            imu.name, imu.address, "FIFO" if imu.fifo else "data-ready",
            imu.accel_range_g, imu.gyro_range_dps))
        t_end = clock.now_ms() + seconds * 1000
        t_start = clock.now_ms()
        reads = 0
        read_us = 0
        while clock.now_ms() < t_end:
            a = now_us()
            got = imu.read(samples)
            b = now_us()
            if got:
                reads += 1
                read_us += b - a
            else:
                clock.sleep_ms(1)
        elapsed = clock.now_ms() - t_start
        res["rate_hz"] = len(samples) * 1000.0 / elapsed if elapsed else 0.0
        res["read_us"] = read_us // reads if reads else 0
        res["missed"] = imu.missed
        out("sample rate: %.1f Hz (configured %d), missed %d" % (
            res["rate_hz"], cfg.rate_hz, imu.missed))
        out("sensor read: %d us per read call with data" % res["read_us"])
    det = Detector(profiles.get(cfg.exercise))
    if not samples:
        samples = [(i * 10, 0.0, 0.0, 9.81, 0.0, 0.0, 0.0) for i in range(200)]
    a = now_us()
    for s in samples:
        det.update(s[0], s[1], s[2], s[3], s[4], s[5], s[6])
    b = now_us()
    res["update_us"] = (b - a) // len(samples)
    out("core update: %d us per sample (%d samples)" % (res["update_us"], len(samples)))
    gc.collect()
    if hasattr(gc, "mem_free"):
        res["mem_free"] = gc.mem_free()
        out("free memory: %d bytes" % res["mem_free"])
    links = hw.get("links") or ()
    res["links"] = []
    for ln in links:
        state = "connected" if ln.connected else "not connected"
        radio = getattr(ln, "radio", None)
        if radio is not None:
            state += ", advertising" if radio.advertising else ""
        out("link %s: %s" % (ln.name, state))
        sent = ln.write_line("SELFTEST " + "0123456789" * 5 + "\n")
        res["links"].append((ln.name, ln.connected, sent))
    if not links:
        out("links: none (BLE unavailable, usb_cdc.data off?)")
    return res


if __name__ in ("__main__", "selftest"):
    import sys
    if sys.implementation.name == "circuitpython":
        run()
