"""The `heima` command: the touch app (no command, `app`, `run`), demo, gallery, run --headless,
sync, status, export, outbox, questionnaire. Every command that uses the data folder finds it by one rule
(DATA_RULE) and prints it first."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import logging
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from hub import questionnaire_cli
from hub.config import DEFAULT_DATA_DIR, ConfigError, HubConfig, load_config

DATA_RULE = (
    "where the data lives: --data-dir, else [hub] data_dir in the --config file, "
    f"else {DEFAULT_DATA_DIR} in the current folder (the same for every command)"
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # only for --version: the help stays quick

    try:
        return version("heima")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """`--version`, reading the installed version only when asked (argparse's own reads it always)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:  # noqa: A002
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"heima {_version()}")  # on standard output, as argparse's own
        parser.exit()


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a date as YYYY-MM-DD, e.g. 2026-11-01") from None


def _config(args: argparse.Namespace) -> HubConfig:
    config = load_config(getattr(args, "config", None))
    data_dir = getattr(args, "data_dir", None)
    if args.command == "demo" and data_dir is None and config.patient.identifier:
        # The demo's readings are about the synthetic test person: never in a real patient's store.
        raise ConfigError("demo: the --config file names a patient; give the demo a folder of its own with --data-dir")
    config = dataclasses.replace(config, data_dir=(data_dir or config.data_dir).absolute())
    if getattr(args, "centre", None):
        config = config.with_centre(args.centre)
        if args.command != "demo":  # the demo's readings are emulated and carry its own test subject
            config.check_patient_for_care_providers("--centre")
    return config


def _options() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Options taken before the command or after it (`heima --config x status` and `heima status
    --config x`). SUPPRESS: an option left out after the command does not undo one given before."""
    quiet = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    quiet.add_argument("-v", "--verbose", action="store_true", help="log what the hub does (never patient data)")
    data = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    data.add_argument("--config", type=Path, metavar="FILE", help="the hub's TOML configuration (default: embedded defaults)")
    data.add_argument("--data-dir", type=Path, metavar="DIR", help=DATA_RULE)
    return quiet, data


def _centre(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--centre",
        metavar="URL",
        help=f"a FHIR server's base URL (https://…) to deliver to, {what}; needs the patient in the --config file",
    )


def build_parser() -> argparse.ArgumentParser:
    quiet, data = _options()
    both = [quiet, data]
    parser = argparse.ArgumentParser(
        prog="heima", description="Heima: the patient's hub for digital home follow-up.", parents=both
    )
    parser.add_argument("--version", action=_VersionAction, help="show the program's version number and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        parents=both,
        help="emulated devices: the touch app when there is a display, else one reading walked through headless",
    )
    demo.add_argument("--centre", metavar="URL", help="a FHIR server's base URL to deliver to (default: a local folder)")
    shown = demo.add_mutually_exclusive_group()
    shown.add_argument("--ui", action="store_true", help="open the touch app even without DISPLAY/WAYLAND_DISPLAY")
    shown.add_argument("--headless", action="store_true", help="no touch app: print the walk of one reading")

    appcmd = sub.add_parser("app", parents=both, help="the touch app with the hub (what `heima` alone does)")
    _centre(appcmd, "beside the configured destinations")

    gallery = sub.add_parser("gallery", parents=[quiet], help="render every screen × language × text size to PNGs")
    gallery.add_argument("--out", type=Path, default=Path("build/gallery"), metavar="DIR", help="where the PNGs go (default: build/gallery)")

    run = sub.add_parser("run", parents=both, help="run the hub: the touch app, or with --headless the hub alone")
    run.add_argument("--headless", action="store_true", help="no touch app: the hub alone")
    _centre(run, "beside the configured destinations")

    sync = sub.add_parser(
        "sync",
        parents=both,
        help="deliver everything due now, then say what still waits, why and when it is tried next",
        description="Deliver everything due now to every destination, once, then exit. Exit status 0: nothing "
        "waits; 1: readings wait (for a destination that is backing off, or one no longer configured).",
    )
    _centre(sync, "beside the configured destinations")

    sub.add_parser("status", parents=both, help="what is stored, and what waits per destination and why")

    export = sub.add_parser(
        "export",
        parents=both,
        help="write stored measurements as FHIR bundles into a folder (a USB stick, a hand-over)",
        description="Write every stored measurement as FHIR transaction bundles, one file a day, into a folder. "
        "Nothing in the outbox changes; exporting the same data again writes the same files.",
    )
    export.add_argument("--to", type=Path, required=True, metavar="DIR", help="the folder to write into (created 0700 if missing; its parent must exist)")
    export.add_argument("--since", type=_date, metavar="DATE", help="only days from this date on (YYYY-MM-DD, the hub's local days)")
    export.add_argument(
        "--destination", metavar="NAME", help="only what this destination has not taken (waiting for it, or set aside by it)"
    )

    outbox = sub.add_parser(
        "outbox",
        parents=both,
        help="rows per destination; those of destinations no longer configured, and what to do with them",
    )
    what = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    move = what.add_parser(
        "move",
        parents=both,
        help="queue the waiting rows of a destination no longer configured for a configured one (once each)",
    )
    move.add_argument("--from", dest="source", required=True, metavar="OLD", help="the destination no longer configured")
    move.add_argument("--to", dest="target", required=True, metavar="NEW", help="a configured destination")
    questionnaire_cli.add_parser(sub, [quiet])
    from hub.app.technician_args import register as register_technician  # enrol, technician, return (arguments only)

    register_technician(sub, both)
    from hub.app.plan_cli import register as register_plan  # plan check, simulate, show

    register_plan(sub, both)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "run":  # the hub, the kiosk and first boot: all stopped by the units with SIGINT
        _stop_on_sigint()
    if args.command == "questionnaire":  # a form author's tool: no data folder, no configuration
        return questionnaire_cli.run(args)
    from hub.app import technician_args

    if args.command in technician_args.COMMANDS:  # enrol, technician mode and return read their own configuration
        from hub.app import technician

        return technician.main(args)
    if args.command == "plan":  # a plan author's tools need no data folder; show reads it alone
        from hub.app import plan_cli

        return plan_cli.main(args)
    if _touch_app(args) and _not_enrolled(args):
        return _first_boot(args)
    try:
        config = _config(args)
    except ConfigError as exc:
        print(technician_args.explain_config_error(args, exc), file=sys.stderr)
        return 2

    from hub import app  # the composition root; imported only here

    try:
        return _dispatch(parser, args, app, config)
    except app.StoreError as exc:  # the data folder in use, a damaged database, a full disk: one line
        print(f"heima: {exc}", file=sys.stderr)
        return 3


def _stop_on_sigint() -> None:
    """The unit stops the hub with SIGINT (KillSignal=SIGINT). A parent that ignores SIGINT — a
    shell's background job, nohup in a script — passes the ignoring on, and Python then leaves it
    ignored: the hub would never stop. `heima run` takes SIGINT back as Python's own interrupt."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, app, config: HubConfig) -> int:  # noqa: ANN001
    if args.command == "gallery":
        written = asyncio.run(app.run_gallery(args.out.resolve()))
        print(f"{len(written)} PNGs in {args.out}")
        return 0
    if args.command == "demo":  # the demo says where its data is in its own first line
        if args.ui or (not args.headless and has_display()):
            return _run_app(app, config, emulated=True)
        return asyncio.run(app.run_demo(config))
    print(f"data in {config.data_dir}", flush=True)
    _note_earlier_default(config)
    if _touch_app(args):  # with --config, technician mode and enrolment are on the screen too
        return _run_app(app, config, emulated=False, config_path=getattr(args, "config", None))
    if args.command == "run":
        try:
            asyncio.run(app.run_headless(config))
        except KeyboardInterrupt:
            pass
        return 0
    if args.command == "sync":
        return _sync(app, config)
    if args.command == "status":
        return _status(app, config)
    if args.command == "export":
        return _export(app, args, config)
    if args.command == "outbox":
        return _move(app, args, config) if args.outbox_command == "move" else _outbox(app, config)
    parser.print_help()
    return 0


def _note_earlier_default(config: HubConfig) -> None:
    """Before the one rule, a hub without a data folder named kept its data in
    ~/.local/share/heima. Found there and not here: say so, so nobody thinks it lost."""
    earlier = Path.home() / ".local" / "share" / "heima"
    if not config.database_path.exists() and (earlier / "heima.db").exists() and config.data_dir != earlier:
        print(
            f"heima: note: there is data in {earlier} (where earlier versions kept it by default); "
            f"to use it, give --data-dir {earlier} or set [hub] data_dir",
            file=sys.stderr,
        )


def has_display() -> bool:
    """A screen to open the touch app on (X11 or Wayland); elsewhere `--ui` says so explicitly."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _run_app(app, config: HubConfig, *, emulated: bool, config_path: Path | None = None) -> int:  # noqa: ANN001
    try:
        return asyncio.run(app.run_app(config, emulated=emulated, config_path=config_path))
    except KeyboardInterrupt:
        return 0


def _touch_app(args: argparse.Namespace) -> bool:
    return args.command in (None, "app") or (args.command == "run" and not args.headless)


def _not_enrolled(args: argparse.Namespace) -> bool:
    from hub.app.first_boot import needs_enrolment

    return needs_enrolment(getattr(args, "config", None))


def _first_boot(args: argparse.Namespace) -> int:
    """The touch app with --config naming a file that is not there: a new or returned hub. The
    enrolment screen is shown (the kiosk must show something); enrolled, the app ends and the
    service starts it again into the patient's app."""
    from hub.app.first_boot import run_first_boot

    config_path = Path(args.config).absolute()
    data_dir = (getattr(args, "data_dir", None) or DEFAULT_DATA_DIR).absolute()
    print(f"data in {data_dir}", flush=True)
    print(f"heima: not enrolled (no configuration at {config_path}): showing the enrolment screen", flush=True)
    try:
        status = asyncio.run(run_first_boot(config_path, data_dir))
    except KeyboardInterrupt:
        return 0
    if config_path.exists():
        print("heima: enrolled; the patient's app opens when heima starts again (the kiosk's service restarts it)", flush=True)
    return status


def _sync(app, config: HubConfig) -> int:  # noqa: ANN001
    """Deliver what is due, then say per destination what still waits, why, and when it is
    tried next. Exit 1 while anything waits, so a timer or a technician sees it."""
    outbox_admin = app.outbox_admin
    reports = asyncio.run(app.sync_once(config))
    snap = asyncio.run(outbox_admin.snapshot(config))
    assert snap is not None  # sync_once opened (and so created) the database
    now = datetime.now(UTC)
    for name, report in reports.items():
        waiting = snap.waiting.get(name)
        count = waiting.count if waiting else 0
        print(f"{name}: delivered {report.delivered}, could not be sent {report.dead}, waiting {count}")
        if waiting:
            for line in outbox_admin.waiting_lines(waiting, now=now, zone=config.zone):
                print(line)
    stranded = [n for n in snap.stranded if snap.counts[n].get("pending", 0)]
    for name in stranded:
        print(outbox_admin.stranded_text(name, snap.counts[name]))
    return 1 if snap.waiting_total() else 0


def _status(app, config: HubConfig) -> int:  # noqa: ANN001
    if not config.database_path.exists():
        print(f"no data yet at {config.database_path}")
        return 0
    snap = asyncio.run(app.outbox_admin.snapshot(config))
    assert snap is not None
    print(f"{snap.measurements} measurement(s) in {config.database_path}")
    now = datetime.now(UTC)
    for dest in snap.configured_names + snap.stranded:
        counts = snap.counts.get(dest, {})
        if dest in snap.stranded:
            print(f"  {app.outbox_admin.stranded_text(dest, counts)}")
            continue
        print(f"  {dest}: {app.outbox_admin.counts_text(counts)}")
        if dest in snap.waiting:
            for line in app.outbox_admin.waiting_lines(snap.waiting[dest], now=now, zone=config.zone):
                print(f"  {line}")
    if snap.set_aside:
        print("Could not be sent (kept on the hub; the reason is the destination's answer):")
    for item in snap.set_aside:
        print(f"  {item.destination}: {item.kind} measured {item.taken_at:%Y-%m-%d %H:%M} UTC, id {item.measurement_id}: {item.reason}")
    return 0


def _export(app, args: argparse.Namespace, config: HubConfig) -> int:  # noqa: ANN001
    export = app.export.export

    to = args.to.absolute()
    if not to.parent.is_dir():
        print(f"heima: export: the folder above {to} does not exist (is the USB stick mounted?)", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(export(config, to, since=args.since, destination=args.destination))
    except OSError as exc:  # a read-only or full stick, a file where the folder should be
        what = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        print(f"heima: export: could not write into {to} ({what}); nothing in the hub changed", file=sys.stderr)
        return 2
    which = f" that {args.destination!r} has not taken" if args.destination else ""
    if not result.files:
        print(f"Nothing to export{which}" + (f" since {args.since}" if args.since else "") + "; nothing written.")
    else:
        written = sum(f.written for f in result.files)
        print(f"Exported {result.measurements} measurement(s){which} to {to}: {len(result.files)} file(s), {written} written, {len(result.files) - written} unchanged")
        if result.forms:
            print(f"  and {result.forms} submitted questionnaire(s) with {result.scores} score(s)")
        if result.alerts or result.missed or result.devices:
            print(f"  and {result.alerts} zone alert(s), {result.missed} missed task(s), {result.devices} device inventory entr(y/ies)")
        for f in result.files:
            print(f"  {f.path.name}: {f.measurements} measurement(s), {'written' if f.written else 'unchanged'}")
    if result.held:
        print(f"Not exported: {result.held} reading(s) held until the hub's clock is set (their day is not known yet)")
    if result.not_expressible:
        print(f"Not exported: {len(result.not_expressible)} measurement(s) FHIR cannot express (ids: {', '.join(result.not_expressible)})")
    return 0


def _outbox(app, config: HubConfig) -> int:  # noqa: ANN001
    outbox_admin = app.outbox_admin

    snap = asyncio.run(outbox_admin.snapshot(config))
    if snap is None:
        print(f"no data yet at {config.database_path}")
        return 0
    print("Configured destinations:")
    for dest in snap.configured:
        print(f"  {dest.name} ({dest.kind}): {outbox_admin.counts_text(snap.counts.get(dest.name, {}))}")
    if not snap.stranded:
        print("No rows for destinations not in the configuration.")
        return 0
    print("Not in the configuration (their rows are kept; nothing is sent there until you act):")
    target = snap.configured_names[0]
    for name in snap.stranded:
        print(f"  {name}: {outbox_admin.counts_text(snap.counts[name])}")
        print(f"    send what waits to a configured destination:  heima outbox move --from {name} --to {target}")
        print(f"    or copy what it has not taken into a folder:  heima export --destination {name} --to DIR")
    return 0


def _move(app, args: argparse.Namespace, config: HubConfig) -> int:  # noqa: ANN001
    outbox_admin = app.outbox_admin

    try:
        done = asyncio.run(outbox_admin.move(config, args.source, args.target))
    except outbox_admin.OutboxCommandError as exc:
        print(f"heima: outbox move: {exc}", file=sys.stderr)
        return 2
    print(f"Queued {done.queued} measurement(s) for {args.target} that waited for {args.source}")
    if done.already:
        print(f"  {done.already} were already queued, sent or set aside for {args.target}: not queued again")
    if done.left:
        print(
            f"  {done.left} still wait for {args.source}: {args.target} does not take them, or the patient has not "
            f"given consent for it (copy them with `heima export --destination {args.source} --to DIR`)"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
