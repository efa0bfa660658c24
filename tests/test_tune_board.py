"""A tuned profile reaches the board's detector unchanged: through the
settings.toml snippet (the firmware's own settings reader, the App at boot)
and through ``hipflex config push --config`` over a real pty to the firmware
App on emulated hardware."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("adafruit_lsm6ds")
pytest.importorskip("adafruit_bus_device")

import emulation  # noqa: E402,F401  (puts firmware/ on sys.path)
from emulation.harness import Board  # noqa: E402
from hipflex_app.config import Config  # noqa: E402
from test_sync_pty import SECRET, FirmwareOnPty, host_env  # noqa: E402

from hipflex.core import profiles  # noqa: E402
from hipflex.profile_file import (_parse_flat, load_profile, settings_path,  # noqa: E402
                                  write_profile, write_settings_snippet)

# a profile unlike any catalogue entry, in every parameter
TUNED = dict(profiles.get("lying_leg_raise"), min_rom_deg=13, entry_deg=6, exit_pct=40,
             rel_pct=30, min_rep_ms=450, max_hold_ms=15000, still_dps=3, hold_dps=9,
             hold_pct=80, swing_pct=60, target_hold_ms=1500, gain_mhz=1500, yaw_reps=1)


@pytest.fixture
def profile(tmp_path):
    path = str(tmp_path / "me.toml")
    write_profile(path, "lying_leg_raise", TUNED)
    write_settings_snippet(settings_path(path), "lying_leg_raise", TUNED, path)
    return path


def test_settings_snippet_gives_the_board_the_profile(profile):
    text = open(settings_path(profile)).read()
    try:
        import tomllib
        settings = tomllib.loads(text)
    except ImportError:      # Python 3.10
        settings = _parse_flat(text, "settings.toml")
    cfg = Config(settings.get)
    assert cfg.warnings == [] and cfg.exercise == "lying_leg_raise"
    assert cfg.params(cfg.exercise) == TUNED
    board = Board("LSM6DS33", [], settings=dict(settings, HIPFLEX_SECRET=SECRET))
    assert board.app.exercise == "lying_leg_raise"
    assert board.app.det.params == TUNED


def test_config_push_sends_the_profile(profile, tmp_path):
    assert load_profile(profile) == ("lying_leg_raise", TUNED)
    port = str(tmp_path / "ttyHIPFLEX")
    dev = FirmwareOnPty(port, (), settings={"HIPFLEX_SECRET": SECRET})
    try:
        assert dev.call(lambda d: d.app.det.params) != TUNED
        p = subprocess.run([sys.executable, "-m", "hipflex", "config", "push", "--serial", port,
                            "--config", profile], env=host_env(HIPFLEX_SECRET=SECRET),
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("pushed: exercise lying_leg_raise, min_rom_deg=13,")
        app = dev.call(lambda d: (d.app.exercise, dict(d.app.det.params)))
        assert app == ("lying_leg_raise", TUNED)
    finally:
        dev.stop()
    assert os.path.exists(settings_path(profile))
