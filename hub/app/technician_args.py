"""The arguments of the technician's commands (`heima enrol`, `technician`, `return`) and the
"not enrolled" sentence: what `heima --help` and a missing configuration need, kept apart from
hub.app.technician (the store, the export, the services) so that they load in a blink."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

COMMANDS = ("enrol", "technician", "return")


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the technician's commands to `heima`'s subparsers."""
    enrol = sub.add_parser(
        "enrol",
        parents=parents,
        help="enrol this hub for a patient from the centre's signed profile (a file, a USB stick's folder, a QR code's text)",
        description="Check the profile's signature (the centre's pinned key), that it is for this hub and not expired, "
        "then write the configuration (--config) and the secrets (0600, in the data folder). A new technician PIN "
        "is asked for (twice at a terminal; one line on standard input otherwise). Refused while the hub holds "
        "another patient's data: return it first.",
    )
    source = enrol.add_mutually_exclusive_group(required=True)
    source.add_argument("profile", nargs="?", type=Path, metavar="PROFILE", help="the signed profile file, or a folder (USB stick) holding heima-enrolment.json")
    source.add_argument("--qr", metavar="TEXT", help="a QR code's text (HEIMA1:…), as a scanner types it")
    enrol.add_argument("--hub-id", metavar="ID", help="this hub's id (default: the file hub-id beside the configuration)")
    enrol.add_argument("--trusted-keys", type=Path, metavar="FILE", help="the centre's pinned public keys (default: enrolment-keys.json beside the configuration)")
    enrol.add_argument("--technician", metavar="NAME", help="your name, for the audit log (default: the login name)")

    tech = sub.add_parser("technician", parents=parents, help="technician mode (asks for the technician PIN): the kit, pairing, the audit log")
    tech.add_argument("--technician", metavar="NAME", help="your name, for the audit log (default: the login name)")
    what = tech.add_subparsers(dest="technician_command", metavar="ACTION")
    kit = what.add_parser("kit", parents=parents, help="the paired devices: serial, model, firmware, battery, last seen, clock offset")
    kit.add_argument("--fhir", type=Path, metavar="FILE", help="also write them as FHIR R4 Device resources (a collection Bundle) to FILE")
    kit.add_argument("--send", action="store_true", help="queue them as Device resources for the destinations that take them")
    what.add_parser("audit", parents=parents, help="the technician audit log (who, what, when), and whether a line was removed or changed")
    test = what.add_parser(
        "test",
        parents=parents,
        help="take a test measurement with a kit device: stored marked as a test, never sent as the patient's",
    )
    test.add_argument("--timeout", type=float, default=60.0, metavar="S", help="how long to wait for a device (default 60 s)")
    scan = what.add_parser(
        "scan",
        parents=parents,
        help="list the supported devices nearby: signal strength, address, model, whether the hub knows them",
        description="Stop the hub first. Listens for S seconds; devices no Heima driver reads are counted, not listed.",
    )
    scan.add_argument("--seconds", type=float, default=10.0, metavar="S", help="how long to listen (default 10 s)")
    pair = what.add_parser(
        "pair",
        parents=parents,
        help="pair one device (its passkey, or a shared scale's consent code, is asked at the terminal)",
        description="Stop the hub first. Connects, bonds and (a shared scale) gives the user's consent code; reads nothing. "
        "Then take a test measurement (heima technician test).",
    )
    pair.add_argument("address", metavar="ADDRESS", help="the device's Bluetooth address, as `heima technician scan` shows it")
    pair.add_argument("--timeout", type=float, default=60.0, metavar="S", help="how long to look for it (default 60 s)")
    unpair = what.add_parser(
        "unpair",
        parents=parents,
        help="remove a device's bond and take it off the kit list (the values it gave stay stored)",
    )
    unpair.add_argument("address", metavar="ADDRESS", help="the device's Bluetooth address, as the kit list shows it")

    ret = sub.add_parser(
        "return",
        parents=parents,
        help="deliver everything (or export it), then wipe the patient's data: the hub boots to enrolment",
        description="Stop the hub first. Delivers everything due to every destination; what cannot be delivered is "
        "refused unless exported (--export DIR --yes). Then wipes the store, forms, Bluetooth bonds, keys and "
        "certificates, settings and logs, and the configuration; leaves wipe-record.json (counts and times, no "
        "patient data). Interrupted, it is finished by running it again.",
    )
    ret.add_argument("--export", type=Path, metavar="DIR", help="write what cannot be delivered into DIR (a USB stick)")
    ret.add_argument("--yes", action="store_true", help="confirm exporting into DIR and wiping")
    ret.add_argument("--technician", metavar="NAME", help="your name, for the audit log (default: the login name)")


def explain_config_error(args: argparse.Namespace, exc: Exception) -> str:
    """`heima` on a hub with no configuration: it is not enrolled (a returned hub)."""
    path = getattr(args, "config", None)
    if path is not None and not Path(path).exists():
        return (
            f"heima: not enrolled: there is no configuration at {path}. "
            f"Enrol this hub with `heima --config {path} enrol PROFILE`."
        )
    return f"heima: configuration: {exc}"
