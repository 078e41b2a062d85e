"""The `heima` command: the touch app (no command, `app`, `run`), demo, gallery, run --headless, sync, status."""

from __future__ import annotations

import argparse
import dataclasses
import asyncio
import logging
import os
import sys
from pathlib import Path

from hub.config import ConfigError, HubConfig, load_config


def _config(args: argparse.Namespace) -> HubConfig:
    config = load_config(args.config)
    if getattr(args, "data_dir", None):
        config = dataclasses.replace(config, data_dir=args.data_dir.resolve())
    if getattr(args, "centre", None):
        config = config.with_centre(args.centre)
        if args.command != "demo":  # the demo's readings are emulated and carry its own test subject
            config.check_patient_for_care_providers("--centre")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="heima", description="Heima: the patient's hub for digital home follow-up.")
    parser.add_argument("--config", type=Path, help="TOML configuration (default: embedded defaults)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the hub does (never patient data)")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser(
        "demo",
        help="emulated devices: the touch app when there is a display, else one reading walked through headless",
    )
    demo.add_argument("--centre", help="a FHIR server base URL to deliver to (default: a local folder)")
    demo.add_argument("--data-dir", type=Path, default=Path("heima-data"), help="where the demo keeps its data")
    shown = demo.add_mutually_exclusive_group()
    shown.add_argument("--ui", action="store_true", help="open the touch app even without DISPLAY/WAYLAND_DISPLAY")
    shown.add_argument("--headless", action="store_true", help="no touch app: print the walk of one reading")

    appcmd = sub.add_parser("app", help="the touch app with the hub (what `heima` alone does)")
    appcmd.add_argument("--centre", help="a FHIR server base URL to deliver to")
    appcmd.add_argument("--data-dir", type=Path)

    gallery = sub.add_parser("gallery", help="render every screen × language × text size to PNGs")
    gallery.add_argument("--out", type=Path, default=Path("build/gallery"))

    run = sub.add_parser("run", help="run the hub: the touch app, or with --headless the hub alone")
    run.add_argument("--headless", action="store_true", help="no touch app: the hub alone")
    run.add_argument("--centre", help="a FHIR server base URL to deliver to")
    run.add_argument("--data-dir", type=Path)

    sync = sub.add_parser("sync", help="deliver everything queued now, then exit")
    sync.add_argument("--centre")
    sync.add_argument("--data-dir", type=Path)

    status = sub.add_parser("status", help="what is stored and where it stands per destination")
    status.add_argument("--data-dir", type=Path)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"heima: configuration: {exc}", file=sys.stderr)
        return 2

    from hub import app  # the composition root; imported only here
    from hub.store import StoreError

    try:
        return _dispatch(parser, args, app, config)
    except StoreError as exc:  # the data folder in use, a damaged database, a full disk: one line
        print(f"heima: {exc}", file=sys.stderr)
        return 3


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, app, config: HubConfig) -> int:  # noqa: ANN001
    if args.command == "gallery":
        written = asyncio.run(app.run_gallery(args.out.resolve()))
        print(f"{len(written)} PNGs in {args.out}")
        return 0
    if args.command == "demo":
        if args.ui or (not args.headless and has_display()):
            return _run_app(app, config, emulated=True)
        return asyncio.run(app.run_demo(config))
    if args.command in (None, "app") or (args.command == "run" and not args.headless):
        return _run_app(app, config, emulated=False)
    if args.command == "run":
        try:
            asyncio.run(app.run_headless(config))
        except KeyboardInterrupt:
            pass
        return 0
    if args.command == "sync":
        reports = asyncio.run(app.sync_once(config))
        for name, r in reports.items():
            print(f"{name}: delivered {r.delivered}, retry later {r.retried}, could not be sent {r.dead}")
        return 0 if all(not r.retried for r in reports.values()) else 1
    if args.command == "status":
        return asyncio.run(_status(config))
    parser.print_help()
    return 0


def has_display() -> bool:
    """A screen to open the touch app on (X11 or Wayland); elsewhere `--ui` says so explicitly."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _run_app(app, config: HubConfig, *, emulated: bool) -> int:  # noqa: ANN001
    try:
        return asyncio.run(app.run_app(config, emulated=emulated))
    except KeyboardInterrupt:
        return 0


async def _status(config: HubConfig) -> int:
    from hub.store import Store

    if not config.database_path.exists():
        print(f"no data yet at {config.database_path}")
        return 0
    store = await Store.open(config.database_path)
    try:
        counts = await store.outbox_counts()
        print(f"{await store.count_measurements()} measurement(s) in {config.database_path}")
        for dest, c in sorted(counts.items()):
            print(f"  {dest}: sent {c.get('delivered', 0)}, waiting {c.get('pending', 0)}, could not be sent {c.get('dead', 0)}")
        set_aside = await store.set_aside()
        if set_aside:
            print("Could not be sent (kept on the hub; the reason is the destination's answer):")
        for item in set_aside:
            print(f"  {item.destination}: {item.kind} measured {item.taken_at:%Y-%m-%d %H:%M} UTC, id {item.measurement_id}: {item.reason}")
    finally:
        await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
