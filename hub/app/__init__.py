"""The composition root: the only package that imports drivers/ and sync/, and the only one
hub/cli.py imports (nothing else imports it — the import-linter contracts check both).

- `wiring`: `start_hub` builds a running `Hub` from a `HubConfig`, each part once and whole;
  a driver's family is what the driver declares.
- `destinations`: a configured destination as a sync adapter (HTTP pools, TLS, keys).
- `runners`: the headless demo walk, `run --headless`, the touch app, the gallery.
- `export`, `outbox_admin`: what `heima export`, `status`, `sync` and `outbox` read and move in
  the data folder (the CLI opens no store itself).

The demo's script (hub/demo.py) and the gallery's example values (hub/examples.py) sit beside the
root, not in it: they are data and scripts the runners load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, imported when first used: `heima --help` loads none of them
    from hub.app import export, outbox_admin
    from hub.app.destinations import build_auth, build_destination, fhir_context
    from hub.app.runners import demo_config, example_hub, run_app, run_demo, run_gallery, run_headless
    from hub.app.wiring import Hub, Link, device_families, driver_family, hub_registry, publish_device_events, start_hub, sync_once
    from hub.demo import DEMO_PASSKEY
    from hub.examples import GALLERY_NOW, seed_examples
    from hub.store import StoreError

_FROM = {
    "export": "hub.app.export", "outbox_admin": "hub.app.outbox_admin",
    **dict.fromkeys(("build_auth", "build_destination", "fhir_context"), "hub.app.destinations"),
    **dict.fromkeys(("demo_config", "example_hub", "run_app", "run_demo", "run_gallery", "run_headless"), "hub.app.runners"),
    **dict.fromkeys(
        ("Hub", "Link", "device_families", "driver_family", "hub_registry", "publish_device_events", "start_hub", "sync_once"),
        "hub.app.wiring",
    ),
    "DEMO_PASSKEY": "hub.demo", "GALLERY_NOW": "hub.examples", "seed_examples": "hub.examples", "StoreError": "hub.store",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """The root's parts are imported on first use (PEP 562), so a command that needs one of them
    (or only the argument parser) does not pay for all of them."""
    where = _FROM.get(name)
    if where is None:
        raise AttributeError(f"module 'hub.app' has no attribute {name!r}")
    module = importlib.import_module(where)
    value = module if where == f"hub.app.{name}" else getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "DEMO_PASSKEY",
    "GALLERY_NOW",
    "Hub",
    "Link",
    "StoreError",
    "build_auth",
    "build_destination",
    "demo_config",
    "device_families",
    "driver_family",
    "export",
    "example_hub",
    "fhir_context",
    "hub_registry",
    "outbox_admin",
    "publish_device_events",
    "run_app",
    "run_demo",
    "run_gallery",
    "run_headless",
    "seed_examples",
    "start_hub",
    "sync_once",
]
