"""Profile files: a person's detector parameters, as ``hipflex tune`` writes them.

The file is flat TOML, one ``key = value`` a line, values integers or
double-quoted strings::

    # comments are allowed
    format = 1
    hipflex = "0.1.0"
    exercise = "standing_march"
    min_rom_deg = 11
    entry_deg = 6
    ...

* ``format`` (required): the file format version. A file from a newer
  format is refused with a clear message rather than half understood.
* ``exercise`` (optional): the catalogue profile the parameters belong to.
* every other key is a detector parameter of ``hipflex.core.profiles``
  (integers, units in the name). A file need not list every parameter; the
  ones left out come from the exercise's catalogue profile.

The same parameters reach the board two ways: ``hipflex config push --config
FILE`` (the protocol's authenticated ``ex`` / ``set`` commands, see
:func:`push_commands`) or the ``settings.toml`` lines of
:func:`settings_snippet` (CircuitPython's settings.toml holds strings and
integers only; the firmware reads ``HIPFLEX_<PARAM>`` for every parameter).
"""

import os
import re

from hipflex import __version__
from hipflex.core import profiles
from hipflex.errors import UserError

FORMAT = 1
# What the board accepts for a parameter (firmware config and the `set` command).
VALUE_MIN = 0
VALUE_MAX = 1000000
META_KEYS = ("format", "hipflex", "exercise")

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT = re.compile(r"^[+-]?[0-9]+$")


class ProfileError(UserError):
    """A profile file that cannot be used (one-line message naming the file)."""


def _parse_flat(text, path):
    """Reader for the flat subset of TOML written here (used where ``tomllib``
    is missing): ``key = int`` and ``key = "string"`` lines, comments, blank
    lines. Anything else is an error naming the line."""
    out = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            raise ProfileError("%s:%d: tables are not part of a profile file" % (path, n))
        if "=" not in line:
            raise ProfileError("%s:%d: expected key = value" % (path, n))
        key, val = line.split("=", 1)
        key = key.strip()
        val = val.strip()
        if not _KEY.match(key):
            raise ProfileError("%s:%d: bad key %r" % (path, n, key))
        if val.startswith('"'):
            end = val.find('"', 1)
            if end < 0:
                raise ProfileError("%s:%d: unterminated string" % (path, n))
            rest = val[end + 1:].strip()
            if rest and not rest.startswith("#"):
                raise ProfileError("%s:%d: unexpected text after the string" % (path, n))
            v = val[1:end]
            if "\\" in v:
                raise ProfileError("%s:%d: escapes are not supported in a profile file" % (path, n))
        else:
            if "#" in val:
                val = val.split("#", 1)[0].strip()
            if not _INT.match(val):
                raise ProfileError("%s:%d: %s must be an integer or a \"string\"" % (path, n, key))
            v = int(val)
        if key in out:
            raise ProfileError("%s:%d: %s given twice" % (path, n, key))
        out[key] = v
    return out


def parse_profile(text, path="<profile>"):
    """Parse and validate profile text; returns ``(exercise_or_None, params)``
    where ``params`` holds the parameters the file gives (ints)."""
    try:
        import tomllib
    except ImportError:      # Python 3.10
        tomllib = None
    if tomllib is not None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ProfileError("%s: not a valid profile file (TOML): %s" % (path, e))
    else:
        data = _parse_flat(text, path)
    if "format" not in data:
        raise ProfileError("%s: not a hipflex profile (no 'format' key)" % path)
    fmt = data["format"]
    if type(fmt) is not int or fmt < 1:
        raise ProfileError("%s: 'format' must be a positive integer" % path)
    if fmt > FORMAT:
        made_by = data.get("hipflex")
        raise ProfileError("%s: written by a newer hipflex%s (profile format %d; hipflex %s reads "
                           "format %d): upgrade hipflex"
                           % (path, " " + made_by if isinstance(made_by, str) else "",
                              fmt, __version__, FORMAT))
    exercise = data.get("exercise")
    if exercise is not None:
        if not isinstance(exercise, str) or exercise not in profiles.NAMES:
            raise ProfileError("%s: unknown exercise %r; one of: %s"
                               % (path, exercise, ", ".join(profiles.NAMES)))
    params = {}
    for k, v in data.items():
        if k in META_KEYS:
            continue
        if isinstance(v, dict):
            raise ProfileError("%s: tables are not part of a profile file ([%s])" % (path, k))
        if k not in profiles.DEFAULTS:
            raise ProfileError("%s: unknown parameter %r; known: %s"
                               % (path, k, ", ".join(sorted(profiles.DEFAULTS))))
        if type(v) is not int:
            raise ProfileError("%s: %s must be an integer (units are in the name)" % (path, k))
        if not VALUE_MIN <= v <= VALUE_MAX:
            raise ProfileError("%s: %s = %d is out of range %d..%d"
                               % (path, k, v, VALUE_MIN, VALUE_MAX))
        params[k] = v
    return exercise, params


def load_profile(path):
    """Read a profile file: ``(exercise_or_None, params_dict)``. Raises
    UserError (one line naming the file) on anything unusable."""
    path = str(path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ProfileError("%s: no such profile file" % path)
    except IsADirectoryError:
        raise ProfileError("%s: is a directory, expected a profile file (.toml)" % path)
    except UnicodeDecodeError:
        raise ProfileError("%s: not UTF-8 text; expected a profile file (.toml)" % path)
    except OSError as e:
        raise ProfileError("%s: cannot read: %s" % (path, e.strerror))
    return parse_profile(text, path)


def full_params(exercise, params):
    """Every detector parameter: the exercise's catalogue profile (``auto``
    when None) with the file's parameters on top."""
    p = profiles.get(exercise or "auto")
    p.update(params)
    return p


def dumps_profile(exercise, params, comments=()):
    """Profile file text for ``exercise`` (a catalogue name or None) and
    ``params`` (dict of ints). ``comments``: lines written as ``# ...`` at
    the top."""
    lines = ["# hipflex detector profile: hipflex analyze --config FILE, "
             "hipflex config push --config FILE"]
    for c in comments:
        lines.append(("# " + c).rstrip())
    lines.append("format = %d" % FORMAT)
    lines.append('hipflex = "%s"' % __version__)
    if exercise is not None:
        if exercise not in profiles.NAMES:
            raise ValueError("unknown exercise %r" % (exercise,))
        lines.append('exercise = "%s"' % exercise)
    for k in _ordered(params):
        lines.append("%s = %d" % (k, _checked(k, params[k])))
    return "\n".join(lines) + "\n"


def write_profile(path, exercise, params, comments=()):
    """Write a profile file atomically (temporary file, then rename)."""
    text = dumps_profile(exercise, params, comments)
    _write(path, text)
    return text


def settings_snippet(exercise, params, source=None):
    """``settings.toml`` lines that give the board these parameters at
    start-up (integers, keys as the firmware reads them)."""
    lines = ["# hipflex tuned profile%s: paste into settings.toml on the CIRCUITPY drive"
             % (" (%s)" % os.path.basename(source) if source else ""),
             "# (replacing any HIPFLEX_ lines below already there). The detector values apply",
             "# to every exercise the board is switched to."]
    if exercise is not None:
        lines.append('HIPFLEX_EXERCISE = "%s"' % exercise)
    for k in _ordered(params):
        lines.append("HIPFLEX_%s = %d" % (k.upper(), _checked(k, params[k])))
    return "\n".join(lines) + "\n"


def write_settings_snippet(path, exercise, params, source=None):
    text = settings_snippet(exercise, params, source)
    _write(path, text)
    return text


def settings_path(profile_path):
    """Where the settings.toml snippet for ``profile_path`` goes."""
    base = profile_path[:-5] if profile_path.endswith(".toml") else profile_path
    return base + ".settings.toml"


def push_commands(exercise, params):
    """The protocol commands that give a running board these parameters:
    ``[("ex", (name,)), ("set", (key, value)), ...]`` (``ex`` first: it
    reloads the catalogue profile, which the ``set`` commands then override)."""
    cmds = []
    if exercise is not None:
        cmds.append(("ex", (exercise,)))
    for k in _ordered(params):
        cmds.append(("set", (k, _checked(k, params[k]))))
    return cmds


def _ordered(params):
    """Parameters in catalogue order (then any others, sorted)."""
    known = [k for k in profiles.DEFAULTS if k in params]
    return known + sorted(k for k in params if k not in profiles.DEFAULTS)


def _checked(k, v):
    if k not in profiles.DEFAULTS:
        raise ValueError("unknown parameter %r" % (k,))
    if type(v) is not int:
        v = int(v)
    if not VALUE_MIN <= v <= VALUE_MAX:
        raise ValueError("%s = %d out of range" % (k, v))
    return v


def _write(path, text):
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise UserError("%s: directory does not exist" % d)
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise UserError("cannot write %s: %s" % (path, e.strerror))
