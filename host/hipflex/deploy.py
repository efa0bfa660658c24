"""``hipflex deploy PATH``: install the firmware on a mounted CIRCUITPY drive.

Layout written under PATH::

    code.py, boot.py, selftest.py, settings.toml.example
    lib/hipflex/__init__.py          minimal package marker
    lib/hipflex/core/*.py            the shared core, byte-identical to the host's
    lib/hipflex_app/*.py             the firmware application

so ``from hipflex.core.detector import Detector`` works the same on the board
and on the laptop. Unchanged files are not rewritten (fewer flash writes and
auto-reloads); code.py is written last so the board restarts into a complete
install. An existing settings.toml is never touched. The Adafruit libraries
come from circup; the command to run is printed.
"""

import os
import shutil

from hipflex.errors import UserError

LIB_INIT = '"""hipflex shared core, deployed by `hipflex deploy`."""\n'
TOP_FILES = ("boot.py", "selftest.py", "settings.toml.example", "code.py")


def source_dirs(firmware=None):
    """(firmware_dir, core_dir). The firmware lives next to host/ in a source
    checkout; ``firmware`` overrides."""
    here = os.path.dirname(os.path.abspath(__file__))
    core = os.path.join(here, "core")
    if firmware is None:
        firmware = os.path.join(os.path.dirname(os.path.dirname(here)), "firmware")
    if not os.path.isfile(os.path.join(firmware, "code.py")):
        raise UserError("firmware directory not found at %s; run from a source "
                        "checkout or pass --firmware DIR" % firmware)
    return firmware, core


def requirements(firmware):
    out = []
    with open(os.path.join(firmware, "requirements.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def _py_files(d):
    return sorted(n for n in os.listdir(d) if n.endswith(".py"))


def plan(dest, firmware=None):
    """List of (source path or None, text/bytes or None, destination path)."""
    fw, core = source_dirs(firmware)
    items = []
    lib = os.path.join(dest, "lib")
    items.append((None, LIB_INIT.encode(), os.path.join(lib, "hipflex", "__init__.py")))
    core_files = _py_files(core)
    for n in core_files:
        items.append((os.path.join(core, n), None, os.path.join(lib, "hipflex", "core", n)))
    if "__init__.py" not in core_files:
        items.append((None, b"", os.path.join(lib, "hipflex", "core", "__init__.py")))
    app = os.path.join(fw, "hipflex_app")
    for n in _py_files(app):
        items.append((os.path.join(app, n), None, os.path.join(lib, "hipflex_app", n)))
    for n in TOP_FILES:          # code.py last
        items.append((os.path.join(fw, n), None, os.path.join(dest, n)))
    return items


def deploy(dest, firmware=None, dry_run=False, log=print):
    """Copy everything into ``dest``; returns the list of files written."""
    if not os.path.isdir(dest):
        raise UserError("%s is not a directory (mount the CIRCUITPY drive)" % dest)
    written = []
    for src, data, dst in plan(dest, firmware):
        if data is None:
            with open(src, "rb") as f:
                data = f.read()
        if os.path.isfile(dst):
            with open(dst, "rb") as f:
                if f.read() == data:
                    continue
        written.append(dst)
        if dry_run:
            log("would write %s" % dst)
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = dst + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
        if src is not None:
            try:
                shutil.copystat(src, dst)
            except OSError:
                pass
    return written


def run(args):
    dest = args.path
    fw, _ = source_dirs(args.firmware)
    written = deploy(dest, args.firmware, args.dry_run)
    print("%s %d file(s) to %s" % ("would copy" if args.dry_run else "copied",
                                   len(written), dest))
    if not os.path.exists(os.path.join(dest, "boot_out.txt")):
        print("note: %s has no boot_out.txt; is it a CIRCUITPY drive?" % dest)
    if not os.path.exists(os.path.join(dest, "settings.toml")):
        print("next: copy settings.toml.example to settings.toml and set "
              "HIPFLEX_SECRET")
    print("install the Adafruit libraries with:")
    print("  circup --path %s install %s" % (dest, " ".join(requirements(fw))))
    return 0


def register(subparsers):
    p = subparsers.add_parser(
        "deploy", help="copy the firmware and shared core to a CIRCUITPY drive",
        description="Copy code.py, boot.py, the firmware modules and the shared "
        "detection core to a mounted CircuitPython drive, and print the circup "
        "command for the Adafruit libraries.")
    p.add_argument("path", help="mount point of the CIRCUITPY drive")
    p.add_argument("--firmware", default=None,
                   help="firmware directory (default: firmware/ of this checkout)")
    p.add_argument("--dry-run", action="store_true", help="list what would be written")
    p.set_defaults(func=run)
