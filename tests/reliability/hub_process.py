"""A hub process for the kill -9 test: Heima's real hub (hub.app.start_hub: the store, the
measurement service, the delivery worker, the FHIR destination) recording readings continuously
and delivering them to a FHIR server, until something kills it.

    python -m tests.reliability.hub_process --data-dir DIR --centre URL [--seed N]
    python -m tests.reliability.hub_process --data-dir DIR --centre URL --fork-server

With --fork-server the script imports everything once and then, for each line `spawn <seed>
<file>` on stdin, forks a hub process (answering `PID <pid>`) whose stdout and stderr go to
<file> and <file>.err; `reap <pid>` waits for it and answers `DEAD <pid> <wait status>`. A
forked child is a real process like any other (its own store, worker, sockets; SIGKILL ends it
the same way); only the 0.5-1 s of imports is paid once, so 200 kill cycles fit in CI.

Stdout, one line per write(2) (whole lines even when killed mid-way):
    READY                the store is open, the delivery worker runs
    ACK <id>             record() returned: the measurement is committed, and only now said so
    ACK-DEVICE <eui48>   a device of the inventory is committed to the outbox (the second kind)
    SEND <n> <k>         request n with k measurements goes to the server
    SENT <n>             the server's answer to request n was read
    MARKED <n>           the outbox rows of request n are marked delivered (committed)
    KILL-SELF <point>    with --kill-at: about to SIGKILL itself at that point

--kill-at POINT:K makes the process SIGKILL itself the K-th time it reaches POINT, for the windows
too narrow to hit from outside: `commit` (record() returned, the ACK not yet said) and `answered`
(the server answered a request, the rows not yet marked delivered).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path

from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig
from hub.domain.readings import DeviceIdentity, MeasurementKind, Reading
from hub.services.outgoing import OutgoingService
from tests.reliability.support import inventory_device, mac_of

DEVICE_EVERY = 5  # every 5th reading of a recorder is followed by a device of the inventory
OXIMETER = DeviceIdentity(address="C0:FF:EE:00:00:09", name="Heima PLX 9", manufacturer="Heima Emulated", model="PLX-1", serial="SN-KILL9")


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())  # unbuffered: what is said is in the pipe before the next step


class KillSwitch:
    def __init__(self, spec: str | None) -> None:
        point, _, k = (spec or "none:0").partition(":")
        self.point, self.left = point, int(k)

    def reached(self, point: str) -> None:
        if point == self.point:
            self.left -= 1
            if self.left == 0:
                say(f"KILL-SELF {point}")
                os.kill(os.getpid(), signal.SIGKILL)


def instrument(hub, switch: KillSwitch) -> None:
    """Mark the send → ack steps on stdout, without changing what they do."""
    [destination] = hub.destinations
    store = hub.store
    send, mark_delivered = destination.send, store.mark_delivered
    counter = iter(range(1, 10**9))
    current: list[int] = []

    async def traced_send(measurements):
        n = next(counter)
        say(f"SEND {n} {len(measurements)}")
        results = await send(measurements)
        say(f"SENT {n}")
        current.append(n)
        switch.reached("answered")
        return results

    async def traced_mark_delivered(dest, ids):
        await mark_delivered(dest, ids)
        if current:
            say(f"MARKED {current.pop()}")

    destination.send = traced_send
    store.mark_delivered = traced_mark_delivered


async def main(args: argparse.Namespace) -> None:
    config = HubConfig(
        data_dir=Path(args.data_dir),
        serial="HUB-KILL9-1",
        destinations=(DestinationConfig(name="centre", kind="fhir", url=args.centre, batch_size=args.batch),),
    )
    hub = await start_hub(config)
    switch = KillSwitch(args.kill_at)
    instrument(hub, switch)
    say("READY")
    rng = random.Random(args.seed)
    run = uuid.uuid4().hex[:12]  # record numbers never repeat across restarts
    inventory = OutgoingService(
        hub.store,
        destinations_for=hub.consent.destinations_for_resource,
        on_queued=lambda: [w.wake() for w in hub.workers],
    )

    async def recorder(k: int) -> None:
        n = 0
        while True:
            n += 1
            reading = Reading(
                kind=MeasurementKind.OXYGEN_SATURATION if n % 2 else MeasurementKind.PULSE_RATE,
                value=float(90 + n % 9) if n % 2 else float(60 + n % 30),
                unit="%" if n % 2 else "/min",
                received_at=datetime.now(UTC),
                device=OXIMETER,
                record_id=f"{run}-{k}-{n}",
            )
            outcome = await hub.service.record_reading(reading)
            assert outcome.created and outcome.measurement is not None
            switch.reached("commit")
            say(f"ACK {outcome.measurement.id}")
            if n % DEVICE_EVERY == 0:
                device = inventory_device(f"{run}-{k}", n)
                await inventory.share_device(device)
                say(f"ACK-DEVICE {mac_of(device.address)}")
            await asyncio.sleep(rng.uniform(0, 2 * args.interval))

    try:
        await asyncio.gather(*(recorder(k) for k in range(args.recorders)))
    finally:
        await hub.stop()


def fork_server(args: argparse.Namespace) -> None:
    """spawn <seed> <file> [<point:K>] | reap <pid>, one per line on stdin."""
    import sys
    import threading

    assert threading.active_count() == 1, "forking is only safe before any thread starts"
    print("FORK-SERVER READY", flush=True)
    for command in sys.stdin:
        word, *rest = command.split()
        if word == "spawn":
            child_seed, out = int(rest[0]), rest[1]
            args.kill_at = rest[2] if len(rest) > 2 else None
            pid = os.fork()
            if pid == 0:  # the hub process
                try:
                    null = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(null, 0)
                    os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), 1)
                    os.dup2(os.open(out + ".err", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), 2)
                    args.seed = child_seed
                    asyncio.run(main(args))
                finally:
                    os._exit(70)
            print(f"PID {pid}", flush=True)
        elif word == "reap":
            pid, status = os.waitpid(int(rest[0]), 0)
            print(f"DEAD {pid} {status}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--centre", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recorders", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.06, help="mean seconds between readings per recorder")
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--kill-at", help="commit:K or answered:K")
    parser.add_argument("--fork-server", action="store_true")
    arguments = parser.parse_args()
    if arguments.fork_server:
        fork_server(arguments)
    else:
        asyncio.run(main(arguments))
