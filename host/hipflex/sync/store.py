"""SQLite storage for synced events.

One database file holds every device's history. Each event the device sends
is identified by ``(device id, boot id, sequence number)``; the ``events``
table has that as its primary key, and every kind-specific row (rep, set,
param) is written in the same transaction as its ``events`` row with ``INSERT OR
IGNORE``. So an event is stored exactly once whatever order, how often, or
over which link it arrives, and a process killed mid-write leaves either the
whole batch or none of it.

Per boot the store keeps ``acked_seq``: the highest sequence number such that
every event up to it is either stored or recorded as lost in ``gaps``. The
sync loop asks the device to replay everything after it. Events the device no
longer has are recorded in ``gaps`` (with a reason), never silently skipped.

Events are plain dicts (``session.event_from_message`` builds them from
protocol messages):

``kind``      "rep", "set", "ex", "param", "boot" (other kinds are kept in
              ``events`` only)
``device``    device id (str)            ``boot``  boot id (str)
``seq``       sequence number (int)      ``t_ms``  device clock, ms since boot
``wall_ms``   optional: unix ms of the event (else derived from the boot's clock
              offset, else the time it was received)
rep:     ``rom_deg``, ``hold_ms``, ``exercise``, ``set``, ``n``, ``start_ms``,
         ``peak_ms``, optional ``target_hold_ms``
set/ex:  ``set``, ``exercise``         param: ``key``, ``val``
boot:    ``exercise``
``raw``       optional: the line as received (kept for diagnosis)

Status reports are not events (they are not numbered): ``record_status``
keeps them in ``status``, once per (boot, device time).
"""

import os
import signal
import sqlite3
import time

from hipflex.errors import UserError

APP_NAME = "hipflex"
DB_NAME = "hipflex.sqlite3"

# Schema migrations: index i takes the database from user_version i to i + 1.
MIGRATIONS = (
    """
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        name TEXT,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL
    );
    CREATE TABLE boots (
        id INTEGER PRIMARY KEY,
        device INTEGER NOT NULL REFERENCES devices(id),
        boot TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        clock_offset_ms INTEGER,
        acked_seq INTEGER NOT NULL,
        max_seq INTEGER,
        device_last_seq INTEGER,
        current_set INTEGER,
        current_exercise TEXT,
        UNIQUE (device, boot)
    );
    CREATE TABLE events (
        boot INTEGER NOT NULL REFERENCES boots(id),
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        t_ms INTEGER,
        received_ms INTEGER NOT NULL,
        raw TEXT,
        PRIMARY KEY (boot, seq)
    ) WITHOUT ROWID;
    CREATE TABLE sets (
        id INTEGER PRIMARY KEY,
        boot INTEGER NOT NULL REFERENCES boots(id),
        set_no INTEGER NOT NULL,
        exercise TEXT,
        started_wall_ms INTEGER,
        UNIQUE (boot, set_no)
    );
    CREATE TABLE reps (
        id INTEGER PRIMARY KEY,
        boot INTEGER NOT NULL REFERENCES boots(id),
        seq INTEGER NOT NULL,
        t_ms INTEGER,
        wall_ms INTEGER NOT NULL,
        rom_deg REAL,
        hold_ms INTEGER,
        exercise TEXT,
        set_no INTEGER,
        n INTEGER,
        start_ms INTEGER,
        peak_ms INTEGER,
        target_hold_ms INTEGER,
        UNIQUE (boot, seq)
    );
    CREATE INDEX reps_by_wall ON reps (wall_ms);
    CREATE TABLE params (
        boot INTEGER NOT NULL REFERENCES boots(id),
        seq INTEGER NOT NULL,
        key TEXT NOT NULL,
        val INTEGER,
        PRIMARY KEY (boot, seq)
    ) WITHOUT ROWID;
    CREATE TABLE status (
        id INTEGER PRIMARY KEY,
        boot INTEGER NOT NULL REFERENCES boots(id),
        t_ms INTEGER NOT NULL,
        seq INTEGER,
        wall_ms INTEGER NOT NULL,
        battery_pct INTEGER,
        battery_mv INTEGER,
        exercise TEXT,
        set_no INTEGER,
        n INTEGER,
        missed INTEGER,
        buffer_fill INTEGER,
        buffer_cap INTEGER,
        hold_ms INTEGER,
        raw TEXT,
        UNIQUE (boot, t_ms)
    );
    CREATE TABLE gaps (
        id INTEGER PRIMARY KEY,
        boot INTEGER NOT NULL REFERENCES boots(id),
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        reason TEXT,
        detected_ms INTEGER NOT NULL,
        UNIQUE (boot, first_seq)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_db_path():
    import platformdirs
    return os.path.join(platformdirs.user_data_dir(APP_NAME, appauthor=False), DB_NAME)


def now_ms():
    return int(time.time() * 1000)


class IngestResult:
    """What one ``ingest`` call did: ``new`` (event dicts stored now, in
    order) and ``duplicates`` (how many were already stored)."""

    def __init__(self):
        self.new = []
        self.duplicates = 0

    @property
    def new_reps(self):
        return [e for e in self.new if e.get("kind") == "rep"]

    def __repr__(self):
        return "IngestResult(new=%d, duplicates=%d)" % (len(self.new), self.duplicates)


class _FaultPoint:
    """Test hook: ``HIPFLEX_FAULT_KILL_AFTER_ROWS=N`` makes the process kill
    itself with SIGKILL after inserting its N-th row, inside the open
    transaction, to prove a killed sync leaves the database consistent."""

    def __init__(self):
        v = os.environ.get("HIPFLEX_FAULT_KILL_AFTER_ROWS")
        self.left = int(v) if v else None

    def row(self):
        if self.left is None:
            return
        self.left -= 1
        if self.left <= 0:
            os.kill(os.getpid(), signal.SIGKILL)


class Store:
    """The sync database. ``first_seq`` is the first sequence number a device
    uses after a boot (so ``acked_seq`` starts at ``first_seq - 1``)."""

    def __init__(self, path=None, first_seq=1, readonly=False, timeout_s=10.0):
        self.path = str(path or default_db_path())
        self.first_seq = int(first_seq)
        if readonly:
            if not os.path.exists(self.path):
                raise UserError("no sync database at %s (run 'hipflex sync' first, "
                                "or pass --db)" % self.path)
        else:
            d = os.path.dirname(os.path.abspath(self.path))
            try:
                os.makedirs(d, exist_ok=True)
            except OSError as e:
                raise UserError("cannot create %s: %s" % (d, e.strerror))
        try:
            self.conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = %d" % int(timeout_s * 1000))
            self.conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate(readonly)
        except sqlite3.DatabaseError as e:
            raise UserError("%s: not a usable hipflex database (%s)" % (self.path, e))
        self._ids = {}
        self._fault = _FaultPoint()

    # -- schema -------------------------------------------------------------
    def _migrate(self, readonly):
        v = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if v > SCHEMA_VERSION:
            raise UserError("%s was written by a newer hipflex (schema %d, this one knows %d)"
                            % (self.path, v, SCHEMA_VERSION))
        if v == SCHEMA_VERSION:
            return
        if readonly:
            raise UserError("%s has an older schema (%d); run 'hipflex sync' once to upgrade it"
                            % (self.path, v))
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            v = self.conn.execute("PRAGMA user_version").fetchone()[0]
            for i in range(v, SCHEMA_VERSION):
                for stmt in _statements(MIGRATIONS[i]):
                    self.conn.execute(stmt)
                self.conn.execute("PRAGMA user_version = %d" % (i + 1))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- ids ----------------------------------------------------------------
    def _device_id(self, uid, when_ms, name=None):
        key = ("d", uid)
        cur = self.conn.execute("SELECT id FROM devices WHERE uid = ?", (uid,))
        row = cur.fetchone()
        if row:
            self.conn.execute("UPDATE devices SET last_seen_ms = ?, name = COALESCE(?, name) "
                              "WHERE id = ?", (when_ms, name, row[0]))
            self._ids[key] = row[0]
            return row[0]
        cur = self.conn.execute(
            "INSERT INTO devices (uid, name, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?)",
            (uid, name, when_ms, when_ms))
        self._ids[key] = cur.lastrowid
        return cur.lastrowid

    def _boot_id(self, uid, boot, when_ms, create=True):
        boot = str(boot)
        key = ("b", uid, boot)
        if key in self._ids:
            return self._ids[key]
        row = self.conn.execute(
            "SELECT b.id FROM boots b JOIN devices d ON d.id = b.device "
            "WHERE d.uid = ? AND b.boot = ?", (uid, boot)).fetchone()
        if row:
            self._ids[key] = row[0]
            return row[0]
        if not create:
            return None
        dev = self._device_id(uid, when_ms)
        cur = self.conn.execute(
            "INSERT INTO boots (device, boot, first_seen_ms, acked_seq) VALUES (?, ?, ?, ?)",
            (dev, boot, when_ms, self.first_seq - 1))
        self._ids[key] = cur.lastrowid
        return cur.lastrowid

    def _txn(self):
        return _Txn(self)

    # -- public API ---------------------------------------------------------
    def note_device(self, uid, name=None, boot=None, when_ms=None):
        """Record that device ``uid`` (optionally ``name``, ``boot``) was seen."""
        when_ms = now_ms() if when_ms is None else when_ms
        with self._txn():
            self._device_id(uid, when_ms, name)
            if boot is not None:
                self._boot_id(uid, boot, when_ms)

    def note_clock(self, uid, boot, device_ms, host_ms=None):
        """Record the device clock reading ``device_ms`` taken at host time
        ``host_ms``: events of that boot get ``wall_ms = t_ms + offset``."""
        host_ms = now_ms() if host_ms is None else host_ms
        with self._txn():
            b = self._boot_id(uid, boot, host_ms)
            self.conn.execute("UPDATE boots SET clock_offset_ms = ? WHERE id = ?",
                              (int(host_ms - device_ms), b))

    def acked_seq(self, uid, boot):
        """Highest seq of this boot up to which nothing is missing (stored or
        recorded as lost); ``first_seq - 1`` for a boot never seen."""
        row = self.conn.execute(
            "SELECT b.acked_seq FROM boots b JOIN devices d ON d.id = b.device "
            "WHERE d.uid = ? AND b.boot = ?", (uid, str(boot))).fetchone()
        return row[0] if row else self.first_seq - 1

    def ingest(self, events, received_ms=None):
        """Store a batch of events in one transaction. Returns IngestResult."""
        received_ms = now_ms() if received_ms is None else int(received_ms)
        res = IngestResult()
        touched = set()
        with self._txn():
            for ev in events:
                b = self._boot_id(str(ev["device"]), ev["boot"], received_ms)
                if self._insert(b, ev, received_ms):
                    res.new.append(ev)
                    touched.add(b)
                else:
                    res.duplicates += 1
            for b in touched:
                self._advance(b)
        return res

    def record_status(self, ev, received_ms=None):
        """Keep one status report (dict with ``device``, ``boot``, ``t_ms``,
        ``seq``, ``battery_pct``, ``battery_mv``, ``exercise``, ``set``, ``n``,
        ``missed``, ``buffer_fill``, ``buffer_cap``, ``hold_ms``, ``raw``).
        Returns True when it was new."""
        received_ms = now_ms() if received_ms is None else int(received_ms)
        with self._txn():
            b = self._boot_id(str(ev["device"]), ev["boot"], received_ms)
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO status (boot, t_ms, seq, wall_ms, battery_pct, battery_mv, "
                "exercise, set_no, n, missed, buffer_fill, buffer_cap, hold_ms, raw) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (b, int(ev["t_ms"]), _int(ev.get("seq")), self._wall(b, ev, received_ms),
                 _int(ev.get("battery_pct")), _int(ev.get("battery_mv")), ev.get("exercise"),
                 _int(ev.get("set")), _int(ev.get("n")), _int(ev.get("missed")),
                 _int(ev.get("buffer_fill")), _int(ev.get("buffer_cap")),
                 _int(ev.get("hold_ms")), ev.get("raw")))
            if ev.get("seq") is not None:
                self._device_seq(b, int(ev["seq"]))
            return cur.rowcount == 1

    def note_device_seq(self, uid, boot, last_seq, when_ms=None):
        """Record that the device said it holds events up to ``last_seq``."""
        when_ms = now_ms() if when_ms is None else when_ms
        with self._txn():
            self._device_seq(self._boot_id(uid, boot, when_ms), int(last_seq))

    def _device_seq(self, b, last_seq):
        self.conn.execute("UPDATE boots SET device_last_seq = MAX(COALESCE(device_last_seq, 0), ?) "
                          "WHERE id = ?", (last_seq, b))

    def other_boots_behind(self, uid, boot):
        """Earlier boots of device ``uid`` (not ``boot``) whose newest known
        seq is beyond what is stored: list of (boot, first_missing, last)."""
        out = []
        for bid, bname, acked, mx, dl in self.conn.execute(
                "SELECT b.id, b.boot, b.acked_seq, b.max_seq, b.device_last_seq FROM boots b "
                "JOIN devices d ON d.id = b.device WHERE d.uid = ? AND b.boot != ?",
                (uid, str(boot))).fetchall():
            last = max(mx or 0, dl or 0)
            if last > acked:
                out.append((bname, acked + 1, last))
        return out

    def declare_lost(self, uid, boot, first_seq, last_seq, reason="not on device",
                     when_ms=None):
        """Record events ``first_seq..last_seq`` (inclusive) of a boot as lost.
        Parts already stored are left out; returns the list of (first, last)
        ranges recorded (empty when nothing was actually missing)."""
        if last_seq < first_seq:
            return []
        when_ms = now_ms() if when_ms is None else when_ms
        out = []
        with self._txn():
            b = self._boot_id(uid, boot, when_ms)
            for lo, hi in self._holes(b, first_seq, last_seq):
                # Skip ranges already covered by a recorded gap.
                covered = self.conn.execute(
                    "SELECT 1 FROM gaps WHERE boot = ? AND first_seq <= ? AND last_seq >= ?",
                    (b, lo, hi)).fetchone()
                if covered:
                    continue
                self.conn.execute("DELETE FROM gaps WHERE boot = ? AND first_seq >= ? "
                                  "AND last_seq <= ?", (b, lo, hi))
                self.conn.execute(
                    "INSERT INTO gaps (boot, first_seq, last_seq, reason, detected_ms) "
                    "VALUES (?, ?, ?, ?, ?)", (b, lo, hi, reason, when_ms))
                out.append((lo, hi))
            self._advance(b)
        return out

    def missing(self, uid, boot, upto_seq):
        """Ranges (first, last) of seqs after ``acked_seq`` up to ``upto_seq``
        that are neither stored nor recorded as lost."""
        b = self._boot_id(uid, boot, 0, create=False)
        if b is None:
            return [(self.first_seq, upto_seq)] if upto_seq >= self.first_seq else []
        acked = self.conn.execute("SELECT acked_seq FROM boots WHERE id = ?", (b,)).fetchone()[0]
        out = []
        for lo, hi in self._holes(b, acked + 1, upto_seq):
            for glo, ghi in self.conn.execute(
                    "SELECT first_seq, last_seq FROM gaps WHERE boot = ? AND last_seq >= ? "
                    "AND first_seq <= ? ORDER BY first_seq", (b, lo, hi)).fetchall():
                if glo > lo:
                    out.append((lo, glo - 1))
                lo = max(lo, ghi + 1)
            if lo <= hi:
                out.append((lo, hi))
        return out

    def gaps(self, uid=None):
        """Recorded gaps: list of dicts (device, boot, first_seq, last_seq, reason)."""
        q = ("SELECT d.uid, b.boot, g.first_seq, g.last_seq, g.reason, g.detected_ms "
             "FROM gaps g JOIN boots b ON b.id = g.boot JOIN devices d ON d.id = b.device")
        args = ()
        if uid is not None:
            q += " WHERE d.uid = ?"
            args = (uid,)
        q += " ORDER BY d.uid, b.first_seen_ms, g.first_seq"
        keys = ("device", "boot", "first_seq", "last_seq", "reason", "detected_ms")
        return [dict(zip(keys, r)) for r in self.conn.execute(q, args)]

    # -- internals ----------------------------------------------------------
    def _holes(self, b, lo, hi):
        """Maximal ranges within [lo, hi] with no stored event."""
        out = []
        nxt = lo
        for (s,) in self.conn.execute(
                "SELECT seq FROM events WHERE boot = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                (b, lo, hi)):
            if s > nxt:
                out.append((nxt, s - 1))
            nxt = s + 1
        if nxt <= hi:
            out.append((nxt, hi))
        return out

    def _advance(self, b):
        acked = self.conn.execute("SELECT acked_seq FROM boots WHERE id = ?", (b,)).fetchone()[0]
        while True:
            moved = False
            for (s,) in self.conn.execute(
                    "SELECT seq FROM events WHERE boot = ? AND seq > ? ORDER BY seq LIMIT 1024",
                    (b, acked)).fetchall():
                if s != acked + 1:
                    break
                acked = s
                moved = True
            g = self.conn.execute(
                "SELECT MAX(last_seq) FROM gaps WHERE boot = ? AND first_seq <= ? AND last_seq > ?",
                (b, acked + 1, acked)).fetchone()[0]
            if g is not None:
                acked = g
                moved = True
            if not moved:
                break
        self.conn.execute("UPDATE boots SET acked_seq = ? WHERE id = ?", (acked, b))

    def _wall(self, b, ev, received_ms):
        if ev.get("wall_ms") is not None:
            return int(ev["wall_ms"])
        t = ev.get("t_ms")
        if t is not None:
            off = self.conn.execute("SELECT clock_offset_ms FROM boots WHERE id = ?",
                                    (b,)).fetchone()[0]
            if off is not None:
                return int(t) + off
        return received_ms

    def _insert(self, b, ev, received_ms):
        seq = int(ev["seq"])
        kind = str(ev.get("kind", "event"))
        t = ev.get("t_ms")
        t = int(t) if t is not None else None
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO events (boot, seq, kind, t_ms, received_ms, raw) "
            "VALUES (?, ?, ?, ?, ?, ?)", (b, seq, kind, t, received_ms, ev.get("raw")))
        if cur.rowcount == 0:
            return False
        self._fault.row()
        self.conn.execute("UPDATE boots SET max_seq = MAX(COALESCE(max_seq, ?), ?) WHERE id = ?",
                          (seq, seq, b))
        wall = self._wall(b, ev, received_ms)
        if kind == "rep":
            set_no = ev.get("set")
            exercise = ev.get("exercise")
            if set_no is None or exercise is None:
                cs, cx = self.conn.execute(
                    "SELECT current_set, current_exercise FROM boots WHERE id = ?", (b,)).fetchone()
                set_no = cs if set_no is None else set_no
                exercise = cx if exercise is None else exercise
            set_no = _int(set_no) if set_no is not None else 0
            target = ev.get("target_hold_ms")
            if target is None:
                target = self._target(b, seq, exercise)
            self.conn.execute(
                "INSERT OR IGNORE INTO reps (boot, seq, t_ms, wall_ms, rom_deg, hold_ms, exercise, "
                "set_no, n, start_ms, peak_ms, target_hold_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (b, seq, t, wall, _num(ev.get("rom_deg")), _int(ev.get("hold_ms")), exercise,
                 set_no, _int(ev.get("n")), _int(ev.get("start_ms")), _int(ev.get("peak_ms")),
                 target))
            self._fault.row()
            self._note_set(b, set_no, exercise, wall)
        elif kind in ("set", "ex", "boot"):
            set_no = ev.get("set", 1 if kind == "boot" else None)
            if kind != "ex":
                self._note_set(b, set_no, ev.get("exercise"), wall)
            self._note_current(b, seq, set_no, ev.get("exercise"))
        elif kind == "param":
            self.conn.execute("INSERT OR IGNORE INTO params (boot, seq, key, val) "
                              "VALUES (?, ?, ?, ?)", (b, seq, str(ev.get("key")),
                                                      _int(ev.get("val"))))
        return True

    def _target(self, b, seq, exercise):
        """Target hold for a rep: the last ``target_hold_ms`` PARAM of this
        boot after the last exercise change before it, else the profile's."""
        row = self.conn.execute(
            "SELECT p.val FROM params p WHERE p.boot = ? AND p.key = 'target_hold_ms' "
            "AND p.seq < ? AND p.seq > COALESCE((SELECT MAX(seq) FROM events "
            "WHERE boot = ? AND kind = 'ex' AND seq < ?), 0) ORDER BY p.seq DESC LIMIT 1",
            (b, seq, b, seq)).fetchone()
        if row and row[0] is not None:
            return int(row[0])
        return _profile_target(exercise)

    def _note_current(self, b, seq, set_no, exercise):
        # Only the newest event of the boot decides the current set/exercise.
        mx = self.conn.execute("SELECT max_seq FROM boots WHERE id = ?", (b,)).fetchone()[0]
        if mx is not None and seq < mx:
            return
        self.conn.execute(
            "UPDATE boots SET current_set = COALESCE(?, current_set), "
            "current_exercise = COALESCE(?, current_exercise) WHERE id = ?",
            (_int(set_no) if set_no is not None else None, exercise, b))

    def _note_set(self, b, set_no, exercise, wall):
        if set_no is None:
            return
        self.conn.execute(
            "INSERT INTO sets (boot, set_no, exercise, started_wall_ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (boot, set_no) DO UPDATE SET "
            "started_wall_ms = MIN(started_wall_ms, excluded.started_wall_ms), "
            "exercise = COALESCE(sets.exercise, excluded.exercise)",
            (b, int(set_no), exercise, wall))


class _Txn:
    """``with store._txn():`` one write transaction (nested uses join the
    outer one). SQLite failures (locked beyond the busy timeout, disk full,
    read-only file) become UserError naming the database."""

    def __init__(self, store):
        self.store = store
        self.outer = False

    def __enter__(self):
        c = self.store.conn
        if c.in_transaction:
            return self
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise self._user_error(e)
        self.outer = True
        return self

    def __exit__(self, et, ev, tb):
        if not self.outer:
            return False
        c = self.store.conn
        if et is None:
            try:
                c.execute("COMMIT")
                return False
            except sqlite3.Error as e:
                err = e
        else:
            err = ev
        # Forget cached ids: rows created in this transaction are gone.
        self.store._ids.clear()
        try:
            c.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        if isinstance(err, sqlite3.Error):
            raise self._user_error(err) from err
        return False

    def _user_error(self, e):
        return UserError("database %s: %s" % (self.store.path, e))


def _statements(script):
    return [s.strip() for s in script.split(";") if s.strip()]


def _num(v):
    return None if v is None else float(v)


def _int(v):
    return None if v is None else int(v)


def _profile_target(exercise):
    from hipflex.core import profiles
    try:
        return int(profiles.get(exercise)["target_hold_ms"]) if exercise else 0
    except KeyError:
        return 0
