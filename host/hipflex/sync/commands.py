"""Commands that talk to a board: ``scan``, ``sync``, ``record``, ``config push``.

asyncio and the transports are imported when a command runs, so that other
commands start fast."""

import os
import sys
import time

from hipflex.errors import UserError


def register(subparsers):
    p = subparsers.add_parser("scan", help="list nearby hipflex boards (Bluetooth)",
                              description="List nearby hipflex boards with signal strength.")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="scan time in seconds (default 5)")
    p.set_defaults(func=cmd_scan)

    p = subparsers.add_parser(
        "sync", help="copy a board's reps into the history database, then keep listening",
        description="Say hello to the board, replay every event after the last one stored "
        "for it, store them (each exactly once), then keep listening and reconnect with "
        "back-off when the link drops. Without --device/--serial a board on USB is looked "
        "for (Adafruit vendor id).")
    _link_args(p)
    p.add_argument("--db", metavar="PATH", help="database (default: the user's data directory)")
    p.add_argument("--live", action="store_true",
                   help="live panel: count, hold timer against the target, exercise, battery, link")
    p.add_argument("--once", action="store_true", help="exit once caught up instead of listening")
    p.set_defaults(func=cmd_sync)

    p = subparsers.add_parser(
        "record", help="record the raw sensor stream to a recording file",
        description="Turn on the board's raw stream and write it in the recording format "
        "(t,ax,ay,az,gx,gy,gz), with a progress line. Stop with Ctrl-C or --duration.")
    _link_args(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.csv")
    p.add_argument("--exercise", metavar="NAME",
                   help="switch the board to this exercise first (needs the owner secret)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--div", type=int, default=None, metavar="N",
                   help="keep every N-th sample (default 1 over USB, 2 over Bluetooth)")
    p.add_argument("--secret-file", metavar="PATH", help="owner secret (else $HIPFLEX_SECRET)")
    p.set_defaults(func=cmd_record)

    p = subparsers.add_parser("config", help="change the board's settings (authenticated)")
    sub = p.add_subparsers(dest="config_cmd", metavar="ACTION")
    q = sub.add_parser(
        "push", help="send exercise / detector parameters to the board",
        description="Send setting changes to the board, each authenticated with the owner's "
        "secret (HMAC over a fresh device nonce, as PROTOCOL.md prescribes).")
    _link_args(q)
    q.add_argument("--exercise", metavar="NAME", help="exercise profile")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="detector parameter (integer), repeatable")
    q.add_argument("--config", metavar="FILE",
                   help="profile file written by 'hipflex tune': its exercise and parameters "
                   "(--exercise and --set override them)")
    q.add_argument("--new-set", action="store_true", help="start a new set")
    q.add_argument("--secret-file", metavar="PATH", help="owner secret (else $HIPFLEX_SECRET)")
    q.set_defaults(func=cmd_config_push)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _link_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--device", metavar="NAME|ADDR", help="Bluetooth board name or address")
    g.add_argument("--serial", metavar="PORT", help="USB serial data port")


def make_transport(args):
    if getattr(args, "serial", None):
        from hipflex.sync.transport_serial import SerialTransport
        if not os.path.exists(args.serial) and not args.serial.upper().startswith("COM"):
            raise UserError("serial port %s does not exist" % args.serial)
        return SerialTransport(args.serial)
    if getattr(args, "device", None):
        from hipflex.sync.transport_ble import BleTransport
        return BleTransport(args.device)
    from hipflex.sync.transport_serial import SerialTransport, auto_port
    return SerialTransport(auto_port())


def read_secret(args):
    path = getattr(args, "secret_file", None)
    if path:
        try:
            with open(path, "r", encoding="utf-8") as f:
                secret = f.read().strip()
        except OSError as e:
            raise UserError("cannot read %s: %s" % (path, e.strerror))
    else:
        secret = os.environ.get("HIPFLEX_SECRET", "").strip()
    if not secret:
        raise UserError("changing settings needs the owner secret: set HIPFLEX_SECRET or pass "
                        "--secret-file (the HIPFLEX_SECRET in the board's settings.toml)")
    return secret


def _run(coro_fn):
    """Run ``coro_fn(stop_event)``; SIGINT/SIGTERM set the event for a clean stop."""
    import asyncio
    import signal
    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        return await coro_fn(stop)
    return asyncio.run(main())


def _err(text):
    print(text, file=sys.stderr, flush=True)


# -- scan ---------------------------------------------------------------------

def cmd_scan(args):
    import asyncio
    from hipflex.sync.transport_ble import scan
    if args.timeout <= 0:
        raise UserError("--timeout must be positive")
    found = asyncio.run(scan(args.timeout))
    if not found:
        print("no hipflex boards found (is the board on and not connected elsewhere?)")
        return 1
    print("%-20s %-40s %s" % ("NAME", "ADDRESS", "RSSI"))
    for name, addr, rssi in found:
        print("%-20s %-40s %s dBm" % (name, addr, rssi if rssi is not None else "?"))
    return 0


# -- sync ---------------------------------------------------------------------

def cmd_sync(args):
    import asyncio
    from hipflex.sync.session import Session
    from hipflex.sync.store import Store
    transport = make_transport(args)
    store = Store(args.db)
    live = None
    if args.live:
        live = LivePanel(transport.label)

    def log(text):
        if live is not None:
            live.note(text)
        else:
            _err(text)

    def on_event(ev):
        if live is None and ev["kind"] == "rep":
            print("rep  set %s #%s  %s  ROM %.1f deg  hold %.1f s" % (
                ev.get("set"), ev.get("n"), ev.get("exercise"), ev.get("rom_deg") or 0.0,
                (ev.get("hold_ms") or 0) / 1000.0), flush=True)

    session = Session(store, transport, once=args.once, log=log, on_event=on_event,
                      on_change=live.update if live else None)

    async def go(stop):
        session.max_failures = 3       # the first connection must work
        task = asyncio.ensure_future(session.run())
        waiter = asyncio.ensure_future(stop.wait())
        try:
            while True:
                done, _ = await asyncio.wait([task, waiter], timeout=0.5,
                                             return_when=asyncio.FIRST_COMPLETED)
                if session.connections:
                    session.max_failures = None    # afterwards: retry for ever
                if task in done:
                    return task.result()
                if waiter in done:
                    session.stop()
                    await task
                    return None
        finally:
            waiter.cancel()

    try:
        if live is not None:
            with live:
                _run(go)
        else:
            _run(go)
    finally:
        store.close()
    st = session.state
    _err("synced: %d new event%s, %d duplicate%s ignored, %d lost, %d malformed line%s dropped"
         % (st.stored, "" if st.stored == 1 else "s", st.duplicates,
            "" if st.duplicates == 1 else "s", st.lost, st.garbage,
            "" if st.garbage == 1 else "s"))
    return 0


class LivePanel:
    """rich.live panel fed by Session.on_change."""

    def __init__(self, label):
        from rich.live import Live
        self.label = label
        self.state = None
        self.notes = []
        self._live = Live(self, refresh_per_second=8, transient=False)

    def __enter__(self):
        self._live.__enter__()
        return self

    def __exit__(self, *exc):
        return self._live.__exit__(*exc)

    def update(self, state):
        self.state = state

    def note(self, text):
        self.notes = (self.notes + [time.strftime("%H:%M:%S ") + text])[-4:]

    def __rich__(self):
        from rich.panel import Panel
        from rich.table import Table
        st = self.state
        t = Table.grid(padding=(0, 2))
        t.add_column(justify="right", style="bold")
        t.add_column()
        if st is None:
            t.add_row("link", "starting")
        else:
            link = {"connected": "[green]connected[/]", "lost": "[red]lost, reconnecting[/]"}.get(
                st.link, st.link)
            t.add_row("link", "%s  %s" % (link, self.label))
            t.add_row("device", "%s (%s)" % (st.name or "?", st.device or "?"))
            t.add_row("exercise", "%s, set %s" % (st.exercise or "?", st.set if st.set else "?"))
            t.add_row("count", "[bold]%s[/]" % (st.count if st.count is not None else "?"))
            hold = st.current_hold_ms() / 1000.0
            target = (st.target_hold_ms or 0) / 1000.0
            if target:
                frac = min(1.0, hold / target)
                k = int(20 * frac)
                bar = "\u2588" * k + "\u2591" * (20 - k)
                colour = "green" if hold >= target else "yellow"
                t.add_row("hold", "[%s]%4.1f s[/] / %.1f s  %s" % (colour, hold, target, bar))
            else:
                t.add_row("hold", "%4.1f s" % hold)
            if st.last_rep:
                r = st.last_rep
                t.add_row("last rep", "ROM %.1f deg, hold %.1f s" % (r["rom"], r["hold"] / 1000.0))
            t.add_row("battery", "%d %%" % st.battery_pct if st.battery_pct is not None else "?")
            t.add_row("stored", "%d new, %d duplicates, %d lost%s" % (
                st.stored, st.duplicates, st.lost, ", replaying" if st.replaying else ""))
        for n in self.notes:
            t.add_row("", "[dim]%s[/]" % n)
        return Panel(t, title="hipflex sync", expand=False)


# -- record -------------------------------------------------------------------

class RecordingWriter:
    """Streams samples to ``path`` in the recording format (via a temporary
    file renamed at the end, so an interrupted run never leaves half a file
    under the final name). Samples whose time does not increase are skipped
    (counted in ``out_of_order``)."""

    def __init__(self, path):
        from hipflex.recording import HEADER
        self.path = path
        self.tmp = path + ".part"
        d = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(d):
            raise UserError("%s: directory does not exist" % d)
        self.f = open(self.tmp, "w", encoding="utf-8", newline="\n")
        self.f.write(HEADER + "\n")
        self.t0 = None
        self.last = None
        self.count = 0
        self.out_of_order = 0

    def add(self, t_ms, acc, gyr):
        if self.t0 is None:
            self.t0 = t_ms
        if self.last is not None and t_ms <= self.last:
            self.out_of_order += 1
            return
        self.last = t_ms
        self.count += 1
        self.f.write("%.4f,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f\n" % (
            (t_ms - self.t0) / 1000.0, acc[0], acc[1], acc[2], gyr[0], gyr[1], gyr[2]))

    @property
    def elapsed(self):
        return 0.0 if self.t0 is None else (self.last - self.t0) / 1000.0

    def rate(self):
        return (self.count - 1) / self.elapsed if self.elapsed > 0 else 0.0

    def finish(self):
        self.f.close()
        if self.count == 0:
            os.unlink(self.tmp)
            return False
        os.replace(self.tmp, self.path)
        return True

    def abort(self):
        self.f.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


def cmd_record(args):
    import asyncio
    from hipflex.core import profiles
    from hipflex.sync.session import LinkLost, Session
    if not args.output.endswith(".csv"):
        raise UserError("%s: a recording file name ends in .csv" % args.output)
    if args.duration is not None and args.duration <= 0:
        raise UserError("--duration must be positive")
    if args.div is not None and args.div < 1:
        raise UserError("--div must be at least 1")
    secret = None
    if args.exercise:
        if args.exercise not in profiles.NAMES:
            raise UserError("unknown exercise %r; choose one of: %s"
                            % (args.exercise, ", ".join(profiles.NAMES)))
        secret = read_secret(args)
    transport = make_transport(args)
    div = args.div or (2 if getattr(args, "device", None) else 1)
    writer = RecordingWriter(args.output)
    tty = sys.stderr.isatty()
    last_print = [0.0]

    miss0 = [None]

    def dropped():
        """Samples lost: missed by the board's sensor loop since recording
        started, plus raw lines that arrived damaged (or out of order)."""
        st = session.state
        missed = 0
        if miss0[0] is not None and st.missed is not None:
            missed = max(0, st.missed - miss0[0])
        return missed + st.garbage + writer.out_of_order

    def progress(final=False):
        now = time.monotonic()
        if not final and now - last_print[0] < (0.25 if tty else 5.0):
            return
        last_print[0] = now
        text = "%6.1f s  %7d samples  %6.1f Hz  dropped %d" % (
            writer.elapsed, writer.count, writer.rate(), dropped())
        if tty:
            sys.stderr.write("\r" + text + ("\n" if final else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def on_raw(msg):
        writer.add(msg["t"], msg["acc"], msg["gyr"])
        progress()

    # Events pushed meanwhile stay in the board's buffer for the next sync.
    session = Session(_NullStore(), transport, on_raw=on_raw)

    async def go(stop):
        try:
            await session.connect()
            if args.exercise:
                await session.signed_command(secret, "ex", args.exercise)
            miss0[0] = (await session.status())["miss"]
            session.state.garbage = 0
            await session.command("raw", "on", div)
            t0 = time.monotonic()
            reader = session._reader
            while not stop.is_set():
                if args.duration is not None and time.monotonic() - t0 >= args.duration:
                    break
                if reader.done():
                    reader.result()
                await asyncio.sleep(0.05)
            try:
                await session.command("raw", "off")
                await session.status()       # the final missed-sample count
            except LinkLost:
                pass
        finally:
            await session.disconnect()

    lost = None
    try:
        _run(go)
    except LinkLost as e:
        lost = e
    except BaseException:
        writer.abort()
        raise
    progress(final=True)
    if not writer.finish():
        raise UserError("no samples received%s; nothing written"
                        % (" (link lost: %s)" % lost if lost else ""))
    if lost:
        raise UserError("link lost after %.1f s (%s); the %d samples so far are in %s"
                        % (writer.elapsed, lost, writer.count, args.output))
    print("wrote %s: %.1f s, %d samples, %.1f Hz, %d dropped" % (
        args.output, writer.elapsed, writer.count, writer.rate(), dropped()))
    return 0


class _NullStore:
    """Store stand-in for one-shot commands: remembers nothing."""

    def __getattr__(self, name):
        if name in ("acked_seq",):
            return lambda *a, **k: 0
        if name in ("missing", "other_boots_behind", "declare_lost"):
            return lambda *a, **k: []
        if name == "ingest":
            from hipflex.sync.store import IngestResult
            return lambda *a, **k: IngestResult()
        return lambda *a, **k: None


# -- config push ----------------------------------------------------------------

def parse_settings(items):
    from hipflex.core import profiles
    out = []
    for it in items:
        if "=" not in it:
            raise UserError("--set %r: expected KEY=VALUE" % it)
        k, v = it.split("=", 1)
        k = k.strip()
        if k not in profiles.DEFAULTS:
            raise UserError("--set: unknown parameter %r; known: %s"
                            % (k, ", ".join(sorted(profiles.DEFAULTS))))
        try:
            v = int(v.strip())
        except ValueError:
            raise UserError("--set %s: value must be an integer (units are in the name)" % k)
        out.append((k, v))
    return out


def cmd_config_push(args):
    from hipflex.core import profiles
    from hipflex.sync.session import Session
    exercise = args.exercise
    if exercise and exercise not in profiles.NAMES:
        raise UserError("unknown exercise %r; choose one of: %s"
                        % (exercise, ", ".join(profiles.NAMES)))
    settings = []
    if getattr(args, "config", None):
        from hipflex.profile_file import load_profile, push_commands
        ex_cfg, params = load_profile(args.config)
        exercise = exercise or ex_cfg
        settings = [tuple(a) for _, a in push_commands(None, params)]
    settings += parse_settings(args.set)
    if not (exercise or settings or args.new_set):
        raise UserError("nothing to push: give --exercise, --set KEY=VALUE, --config FILE "
                        "or --new-set")
    secret = read_secret(args)
    transport = make_transport(args)
    session = Session(_NullStore(), transport)
    done = []

    async def go(stop):
        try:
            hello = await session.connect()
            if hello.get("auth") == "none":
                raise UserError("%s has no owner secret configured (HIPFLEX_SECRET in "
                                "settings.toml), so it refuses setting changes" % hello["name"])
            if exercise:
                await session.signed_command(secret, "ex", exercise)
                done.append("exercise %s" % exercise)
            for k, v in settings:
                await session.signed_command(secret, "set", k, v)
                done.append("%s=%d" % (k, v))
            if args.new_set:
                await session.signed_command(secret, "new")
                done.append("new set")
        finally:
            await session.disconnect()

    from hipflex.sync.session import LinkLost
    try:
        _run(go)
    except LinkLost as e:
        raise UserError("%s: %s%s" % (transport.label, e, (" (done before: %s)" % ", ".join(done))
                                      if done else ""))
    print("pushed: %s" % ", ".join(done))
    return 0
