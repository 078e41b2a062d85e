"""Heima on an Android tablet: python-for-android runs this file (see buildozer.spec).

The tablet keeps its configuration and data in the app's private storage (no other app and no
USB host can read it without root); Bluetooth permissions are asked for before the app starts,
because Android 12+ refuses a scan without BLUETOOTH_SCAN granted at run time. From there it is
the same touch app as on the Pi: `heima run` with the configuration, or the enrolment screen when
there is none yet.
"""

from __future__ import annotations

import sys
from pathlib import Path

BLUETOOTH_PERMISSIONS = ("BLUETOOTH_SCAN", "BLUETOOTH_CONNECT", "ACCESS_FINE_LOCATION")


def _ask_for_bluetooth() -> None:
    from android.permissions import Permission, request_permissions  # p4a's module: only on Android

    request_permissions([getattr(Permission, name) for name in BLUETOOTH_PERMISSIONS])


def arguments(storage: Path) -> list[str]:
    """`heima run` on the tablet's private storage: the configuration enrolment writes, and the data folder."""
    return ["run", "--config", str(storage / "heima.toml"), "--data-dir", str(storage / "data")]


def main() -> int:
    from android.storage import app_storage_path  # p4a's module: only on Android

    from hub import cli

    _ask_for_bluetooth()
    return cli.main(arguments(Path(app_storage_path())))


if __name__ == "__main__":
    sys.exit(main())
