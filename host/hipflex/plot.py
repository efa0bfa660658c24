"""``hipflex plot``: the excursion angle over time, reps and holds shaded."""

import os

from hipflex import recording
from hipflex.analyze import add_detector_args, params_from_args, run_detector, trace
from hipflex.errors import UserError


def plot_recording(rec, params, out, title=None, raw=False):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reps = run_detector(rec, params)
    ts, angs, holds = trace(rec, params)
    rows = 2 if raw else 1
    fig, axes = plt.subplots(rows, 1, figsize=(12, 3.6 * rows), sharex=True, squeeze=False)
    ax = axes[0][0]
    ax.plot(ts, angs, lw=1.0, color="#1f4e79", label="excursion from rest (deg)")
    for r in reps:
        ax.axvspan(r.start_ms / 1000.0, r.end_ms / 1000.0, color="#7fbf7f", alpha=0.35, lw=0)
        ax.plot([r.peak_ms / 1000.0], [r.rom_deg], "v", color="#2a7f2a", ms=6)
        if r.hold_ms:
            ax.text(r.peak_ms / 1000.0, r.rom_deg + 2, "%.1fs" % (r.hold_ms / 1000.0),
                    fontsize=7, ha="center", color="#2a7f2a")
    hx = [t for t, h in zip(ts, holds) if h]
    if hx:
        top = max(angs) if angs else 1
        ax.plot(hx, [top * 1.05] * len(hx), "|", color="#c07000", ms=4, label="holding")
    lab = rec.labels or {}
    ymax = max(angs + [10]) * 1.12
    for i, r in enumerate(lab.get("reps") or []):
        ax.plot([r["start"], r["end"]], [ymax, ymax], color="#b03030", lw=3,
                label="labelled rep" if i == 0 else None)
        ax.plot([r["peak"]], [ymax], "o", color="#b03030", ms=3)
    n_lab = rec.labelled_count()
    head = title or os.path.basename(rec.path or "recording")
    head += ": %d reps detected" % len(reps)
    if n_lab is not None:
        head += ", %d labelled" % n_lab
    ax.set_title(head)
    ax.set_ylabel("deg")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    if raw:
        bx = axes[1][0]
        for k, c in enumerate("xyz"):
            bx.plot(rec.t, rec.gyr[:, k] * 57.2958, lw=0.6, label="g" + c)
        bx.set_ylabel("gyro (deg/s)")
        bx.legend(loc="upper right", fontsize=8)
        bx.grid(alpha=0.3)
    axes[-1][0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return reps


def cmd_plot(args):
    params = params_from_args(args)
    rec = recording.read(args.file, units=args.units)
    out = args.output or os.path.splitext(args.file)[0] + ".png"
    d = os.path.dirname(out)
    if d and not os.path.isdir(d):
        raise UserError("output folder %s does not exist" % d)
    reps = plot_recording(rec, params, out, raw=args.raw)
    print("wrote %s (%d reps)" % (out, len(reps)))
    return 0


def register(sub):
    p = sub.add_parser("plot", help="plot the excursion angle with reps and holds",
                       description="Plot the thigh's excursion from rest over time, with detected "
                       "reps shaded, holds marked and labelled reps overlaid when a labels file exists.")
    p.add_argument("file", help="recording .csv")
    p.add_argument("-o", "--output", metavar="FILE.png", help="image to write (default: next to the recording)")
    p.add_argument("--raw", action="store_true", help="add a panel with the raw gyro")
    add_detector_args(p)
    p.set_defaults(func=cmd_plot)
