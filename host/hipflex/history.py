"""``hipflex history`` and ``hipflex report``: what the sync database holds.

history: one row per day and exercise (sets, reps, mean range of motion,
holds: total, longest, how many reached the exercise's target).
report: progress over the last weeks as a figure (PNG/SVG/PDF) or an HTML
page with the figure embedded and a week-by-week table.
"""

import base64
import csv
import datetime as dt
import html
import io
import os
import re
import sys

from hipflex.errors import UserError

COLUMNS = ("date", "exercise", "sets", "reps", "mean_rom_deg", "hold_total_s",
           "hold_longest_s", "holds_at_target", "target_hold_s")


def register(subparsers):
    p = subparsers.add_parser(
        "history", help="sessions per day and exercise from the sync database",
        description="Table of sessions per day and exercise: sets, reps, mean range of "
        "motion, and holds (total, longest, how many reached the target).")
    p.add_argument("--since", metavar="DATE",
                   help="only from this day: YYYY-MM-DD, or N days/weeks back (30d, 6w)")
    p.add_argument("--exercise", metavar="NAME", help="only this exercise")
    p.add_argument("--csv", metavar="FILE", help="also write the rows as CSV ('-' = stdout only CSV)")
    p.add_argument("--db", metavar="PATH", help="sync database (default: the user's data directory)")
    p.set_defaults(func=cmd_history)

    r = subparsers.add_parser(
        "report", help="progress report over weeks (PNG or HTML)",
        description="Progress over the last weeks per exercise: reps per session, range-of-"
        "motion trend, hold-time trend. Output type from the file name: .png, .svg, .pdf, "
        ".html.")
    r.add_argument("--weeks", type=int, default=8, metavar="N", help="weeks to show (default 8)")
    r.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="output file (.png, .svg, .pdf or .html)")
    r.add_argument("--exercise", metavar="NAME", help="only this exercise")
    r.add_argument("--db", metavar="PATH", help="sync database (default: the user's data directory)")
    r.set_defaults(func=cmd_report)


# -- queries ------------------------------------------------------------------

def parse_since(text, today=None):
    """``YYYY-MM-DD`` or ``Nd`` / ``Nw`` back from today -> datetime.date."""
    if text is None:
        return None
    today = today or dt.date.today()
    m = re.fullmatch(r"\s*(\d+)\s*([dw])\s*", text)
    if m:
        n = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        return today - dt.timedelta(days=n)
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UserError("--since %r: expected a date YYYY-MM-DD or a span like 30d or 6w" % text)


def _start_ms(day):
    return int(dt.datetime.combine(day, dt.time()).timestamp() * 1000)


def open_store(db):
    from hipflex.sync.store import Store
    return Store(db, readonly=True)


def exercises_in(store):
    return [r[0] for r in store.conn.execute(
        "SELECT DISTINCT exercise FROM reps WHERE exercise IS NOT NULL ORDER BY exercise")]


def check_exercise(store, name):
    if name is None:
        return
    from hipflex.core import profiles
    known = exercises_in(store)
    if name not in known and name not in profiles.NAMES:
        raise UserError("unknown exercise %r; stored: %s" % (name, ", ".join(known) or "none"))


def day_rows(store, since=None, exercise=None, until=None):
    """Rows (dicts with COLUMNS) per local day and exercise, oldest first."""
    where = []
    args = []
    if since is not None:
        where.append("wall_ms >= ?")
        args.append(_start_ms(since))
    if until is not None:
        where.append("wall_ms < ?")
        args.append(_start_ms(until))
    if exercise is not None:
        where.append("exercise = ?")
        args.append(exercise)
    q = (
        "SELECT date(wall_ms / 1000, 'unixepoch', 'localtime') AS day, "
        "COALESCE(exercise, 'unknown') AS ex, "
        "COUNT(DISTINCT boot * 100000 + COALESCE(set_no, 0)), COUNT(*), AVG(rom_deg), "
        "SUM(COALESCE(hold_ms, 0)), MAX(COALESCE(hold_ms, 0)), "
        "SUM(CASE WHEN target_hold_ms > 0 AND hold_ms >= target_hold_ms THEN 1 ELSE 0 END), "
        "MAX(COALESCE(target_hold_ms, 0)) "
        "FROM reps %s GROUP BY day, ex ORDER BY day, ex"
        % (("WHERE " + " AND ".join(where)) if where else ""))
    out = []
    for day, ex, sets, reps, rom, htot, hmax, hit, target in store.conn.execute(q, args):
        out.append({
            "date": day, "exercise": ex, "sets": sets, "reps": reps,
            "mean_rom_deg": round(rom, 1) if rom is not None else None,
            "hold_total_s": round(htot / 1000.0, 1), "hold_longest_s": round(hmax / 1000.0, 1),
            "holds_at_target": hit if target else None,
            "target_hold_s": round(target / 1000.0, 1) if target else None,
        })
    return out


# -- history ------------------------------------------------------------------

def cmd_history(args):
    since = parse_since(args.since)
    with open_store(args.db) as store:
        check_exercise(store, args.exercise)
        rows = day_rows(store, since, args.exercise)
        gaps = store.gaps()
    if args.csv == "-":
        write_csv(sys.stdout, rows)
        return 0
    if args.csv:
        try:
            with open(args.csv, "w", encoding="utf-8", newline="") as f:
                write_csv(f, rows)
        except OSError as e:
            raise UserError("cannot write %s: %s" % (args.csv, e.strerror))
    print_table(rows, gaps)
    return 0


def write_csv(f, rows):
    w = csv.writer(f, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow(["" if r[c] is None else r[c] for c in COLUMNS])


def _fmt(v, unit=""):
    return "-" if v is None else ("%s%s" % (v, unit))


HEADINGS = (("Date", "<"), ("Exercise", "<"), ("Sets", ">"), ("Reps", ">"),
            ("Mean ROM", ">"), ("Hold total", ">"), ("Longest", ">"), ("At target", ">"))


def table_cells(r):
    if r["target_hold_s"]:
        at = "%d/%d (>= %g s)" % (r["holds_at_target"], r["reps"], r["target_hold_s"])
    else:
        at = "-"
    return (r["date"], r["exercise"], str(r["sets"]), str(r["reps"]),
            _fmt(r["mean_rom_deg"], " deg"), "%.1f s" % r["hold_total_s"],
            "%.1f s" % r["hold_longest_s"], at)


def format_table(rows):
    """Plain aligned text (fast for a year of rows, copy-pastes cleanly)."""
    cells = [table_cells(r) for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _) in enumerate(HEADINGS)]

    def line(vals):
        return "  ".join(v.ljust(w) if a == "<" else v.rjust(w)
                         for v, w, (_, a) in zip(vals, widths, HEADINGS)).rstrip()
    out = [line([h for h, _ in HEADINGS]), "  ".join("-" * w for w in widths)]
    prev = None
    for c in cells:
        # The date is written once per day.
        out.append(line(("" if c[0] == prev else c[0],) + tuple(c[1:])))
        prev = c[0]
    return "\n".join(out)


def print_table(rows, gaps=()):
    if not rows:
        print("No reps stored for this selection.")
    else:
        print(format_table(rows))
        days = len({r["date"] for r in rows})
        print("%d day%s, %d reps" % (days, "" if days == 1 else "s", sum(r["reps"] for r in rows)))
    for g in gaps:
        n = g["last_seq"] - g["first_seq"] + 1
        print("note: %d event%s lost on device %s (boot %s, seq %d-%d): %s"
              % (n, "" if n == 1 else "s", g["device"], g["boot"], g["first_seq"],
                 g["last_seq"], g["reason"] or "not on device"))


# -- report -------------------------------------------------------------------

def weekly_rows(rows):
    """Aggregate day rows into ISO weeks per exercise."""
    acc = {}
    for r in rows:
        d = dt.date.fromisoformat(r["date"])
        wk = d - dt.timedelta(days=d.weekday())
        a = acc.setdefault((wk, r["exercise"]), {"week": wk.isoformat(), "exercise": r["exercise"],
                                                 "sessions": 0, "reps": 0, "rom_sum": 0.0,
                                                 "rom_n": 0, "hold_sum": 0.0, "hit": 0,
                                                 "target": r["target_hold_s"]})
        a["sessions"] += 1
        a["reps"] += r["reps"]
        if r["mean_rom_deg"] is not None:
            a["rom_sum"] += r["mean_rom_deg"] * r["reps"]
            a["rom_n"] += r["reps"]
        a["hold_sum"] += r["hold_total_s"]
        a["hit"] += r["holds_at_target"] or 0
    out = []
    for key in sorted(acc):
        a = acc[key]
        out.append({
            "week": a["week"], "exercise": a["exercise"], "sessions": a["sessions"],
            "reps": a["reps"],
            "mean_rom_deg": round(a["rom_sum"] / a["rom_n"], 1) if a["rom_n"] else None,
            "mean_hold_s": round(a["hold_sum"] / a["reps"], 1) if a["reps"] else None,
            "at_target_pct": (round(100.0 * a["hit"] / a["reps"]) if a["target"] else None),
        })
    return out


def cmd_report(args):
    if args.weeks < 1:
        raise UserError("--weeks must be at least 1")
    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".png", ".svg", ".pdf", ".html", ".htm"):
        raise UserError("%s: output must end in .png, .svg, .pdf or .html" % args.output)
    today = dt.date.today()
    since = today - dt.timedelta(days=7 * args.weeks - 1)
    with open_store(args.db) as store:
        check_exercise(store, args.exercise)
        rows = day_rows(store, since, args.exercise)
        gaps = store.gaps()
    if not rows:
        raise UserError("no reps stored in the last %d week%s; nothing to report"
                        % (args.weeks, "" if args.weeks == 1 else "s"))
    fig = make_figure(rows, since, today)
    d = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(d):
        raise UserError("%s: directory does not exist" % d)
    if ext in (".html", ".htm"):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        page = make_html(rows, weekly_rows(rows), gaps, buf.getvalue(), since, today, args.weeks)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
    else:
        fig.savefig(args.output, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    print("wrote %s (%d sessions, %s to %s)" % (args.output, len(rows), since, today))
    return 0


def make_figure(rows, since, today):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    exercises = sorted({r["exercise"] for r in rows})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    ax_reps, ax_rom, ax_hold = axes
    for i, ex in enumerate(exercises):
        c = colors[i % len(colors)]
        rs = [r for r in rows if r["exercise"] == ex]
        days = [dt.date.fromisoformat(r["date"]) for r in rs]
        label = ex.replace("_", " ")
        ax_reps.plot(days, [r["reps"] for r in rs], "o-", color=c, label=label)
        rom = [(d, r["mean_rom_deg"]) for d, r in zip(days, rs) if r["mean_rom_deg"] is not None]
        if rom:
            ax_rom.plot([d for d, _ in rom], [v for _, v in rom], "o", color=c, alpha=0.6)
            _trend(ax_rom, [d for d, _ in rom], [v for _, v in rom], c)
        holds = [r["hold_total_s"] / r["reps"] for r in rs]
        ax_hold.plot(days, holds, "o-", color=c, alpha=0.8)
        target = max((r["target_hold_s"] or 0) for r in rs)
        if target:
            ax_hold.axhline(target, color=c, ls=":", lw=1.2)
            ax_hold.annotate("target %g s" % target, (since, target), color=c, fontsize=8,
                             xytext=(2, 2), textcoords="offset points")
    ax_reps.set_ylabel("reps per session")
    ax_reps.set_ylim(0, 1.35 * max(r["reps"] for r in rows))   # room for the legend
    ax_reps.legend(loc="upper left", fontsize=8, ncol=2)
    ax_rom.set_ylabel("mean range of motion (deg)")
    ax_hold.set_ylabel("mean hold per rep (s)")
    ax_hold.set_ylim(bottom=0)
    for ax in axes:
        ax.grid(alpha=0.3)
    ax_hold.set_xlim(since - dt.timedelta(days=1), today + dt.timedelta(days=1))
    ax_hold.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
    ax_hold.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    fig.suptitle("Hip-flexion progress, %s to %s" % (since.strftime("%d %b %Y"),
                                                     today.strftime("%d %b %Y")))
    fig.tight_layout()
    return fig


def _trend(ax, days, vals, color):
    """Least-squares line through the points (needs 2+ distinct days)."""
    if len(set(days)) < 2:
        return
    import numpy as np
    x = np.array([d.toordinal() for d in days], dtype=float)
    k, m = np.polyfit(x, np.array(vals, dtype=float), 1)
    xs = np.array([x.min(), x.max()])
    ax.plot([dt.date.fromordinal(int(v)) for v in xs], k * xs + m, "-", color=color, lw=2,
            label="%+.1f deg/week" % (7 * k))
    ax.legend(loc="lower right", fontsize=8)


def make_html(rows, weeks, gaps, png, since, today, nweeks):
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>Hip-flexion progress</title><style>body{font-family:sans-serif;margin:2em;"
        "max-width:60em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.25em .6em;text-align:right}td:first-child,td:nth-child(2),th{text-align:left}"
        "</style></head><body>",
        "<h1>Hip-flexion progress</h1>",
        "<p>%s to %s (%d week%s): %d sessions, %d reps.</p>" % (
            e(since.isoformat()), e(today.isoformat()), nweeks, "" if nweeks == 1 else "s",
            len(rows), sum(r["reps"] for r in rows)),
        "<img alt='progress plots' style='max-width:100%%' src='data:image/png;base64,%s'>"
        % base64.b64encode(png).decode("ascii"),
        "<h2>Week by week</h2><table><tr><th>Week of</th><th>Exercise</th><th>Sessions</th>"
        "<th>Reps</th><th>Mean ROM (deg)</th><th>Mean hold (s)</th><th>Holds at target</th></tr>",
    ]
    for w in weeks:
        parts.append("<tr><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td>"
                     "<td>%s</td></tr>" % (
                         e(w["week"]), e(w["exercise"]), w["sessions"], w["reps"],
                         _fmt(w["mean_rom_deg"]), _fmt(w["mean_hold_s"]),
                         _fmt(w["at_target_pct"], " %")))
    parts.append("</table>")
    if gaps:
        parts.append("<h2>Missing data</h2><ul>")
        for g in gaps:
            parts.append("<li>device %s: events %d-%d lost (%s)</li>" % (
                e(g["device"]), g["first_seq"], g["last_seq"], e(g["reason"] or "")))
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
