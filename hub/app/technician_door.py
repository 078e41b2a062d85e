"""Technician mode's desk, made when technician mode is first used (run_app).

An enrolled hub's touch app only needs to know at start whether the hub is enrolled (a new or
returned hub shows enrolment). The desk itself — its service, the return's walk, the PIN guard —
is made on the first long press (or enrolment), not at every start: ~1.3 MB of modules and
objects a patient's day never uses (docs/performance.md, part M7).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


class DeskOnFirstUse:
    """Stands for the technician's desk (hub.services.technician_desk.TechnicianDesk): `enrolled`
    is answered without it; anything else asked makes the desk once and asks it."""

    def __init__(self, config_path: Path, make: Callable[[], Any]) -> None:
        self._config_path = config_path.absolute()
        self._make = make
        self._desk: Any = None

    @property
    def enrolled(self) -> bool:
        """A configuration file exists (the desk's own test, TechnicianDesk.enrolled)."""
        return self._desk.enrolled if self._desk is not None else self._config_path.exists()

    @property
    def made(self) -> bool:
        return self._desk is not None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and the like ask the class: not a reason to make it
            raise AttributeError(name)
        if self._desk is None:
            self._desk = self._make()
        return getattr(self._desk, name)


def attach_on_first_use(hub: Any, config_path: Path, **options: Any) -> DeskOnFirstUse:
    """As hub.app.technician_desk.attach, the desk made when technician mode is first used."""

    def make() -> Any:
        from hub.app.technician_desk import attach

        return attach(hub, config_path, **options)

    door = DeskOnFirstUse(config_path, make)
    hub.api.technician = door
    return door


__all__ = ["DeskOnFirstUse", "attach_on_first_use"]
