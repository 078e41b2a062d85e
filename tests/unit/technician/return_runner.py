"""The kill -9 tests' entry point: `heima return` with a stop point injected.

    python -m tests.unit.technician.return_runner CHECKPOINT [heima arguments…]

Runs the real return (hub.app.technician.main, the parser of hub.cli) with a checkpoint hook that,
at CHECKPOINT, says `return: stopped at CHECKPOINT` on stdout and waits to be killed. Production
code carries no switch for this: the hook is an argument only this module passes. CHECKPOINT `-`
stops nowhere."""

from __future__ import annotations

import sys
import threading

from hub.app import technician
from hub.cli import build_parser


def stop_at(wanted: str) -> technician.Checkpoint:
    def checkpoint(name: str) -> None:
        if name == wanted:
            print(f"return: stopped at {name}", flush=True)
            threading.Event().wait()  # killed here by the test

    return checkpoint


def main(argv: list[str]) -> int:
    wanted, *heima = argv
    args = build_parser().parse_args(heima)
    return technician.main(args, checkpoint=stop_at(wanted) if wanted != "-" else None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
