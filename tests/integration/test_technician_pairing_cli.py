"""`heima technician scan|pair|unpair` as a technician types them: the real argument parser
(hub.cli.build_parser), the commands' own code (hub.app.technician.pairing_command) on a link over
the Bumble virtual radio instead of BlueZ, the hub's bonds file and kit list, and the audit log."""

from __future__ import annotations

import json
from pathlib import Path

from drivers.emulator.thermometer import EmulatedThermometer
from hub.app import hub_registry
from hub.app.technician import kit, pairing_command
from hub.cli import build_parser
from hub.config import HubConfig
from hub.services.technician import AuditLog, TechnicianFiles
from tests.emulated import emulated_oximeter


def parse(config: Path, *words: str):
    return build_parser().parse_args(["--config", str(config), "technician", "--technician", "tone", *words])


async def test_scan_pair_and_unpair_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    config = HubConfig(data_dir=data)
    conf = tmp_path / "heima.toml"
    said: list[str] = []
    async with emulated_oximeter(keystore_path=data / "bonds.json", requires_bonding=True, passkey=424242,
                                 readvertise_after_disconnect=True) as rig:  # fmt: skip
        await rig.radio.add(EmulatedThermometer())
        link = rig.link_manager(hub_registry(config))
        assert await pairing_command(config, parse(conf, "scan", "--seconds", "3"), link, say=said.append) == 0
        listing = "\n".join(said)
        said.clear()
        assert await pairing_command(config, parse(conf, "pair", rig.oximeter.address.lower()), link, say=said.append) == 0
        paired = "\n".join(said)
        entries = await kit(config)
        said.clear()
        assert await pairing_command(config, parse(conf, "unpair", rig.oximeter.address), link, say=said.append) == 0
        after = await kit(config)
    assert "2 supported device(s) nearby, strongest signal first:" in listing
    assert "new" in listing and rig.oximeter.address in listing and "(plx-standard)" in listing and "dBm" in listing
    assert f"Paired with {rig.oximeter.address}" in paired
    assert [(e.address, e.paired) for e in entries] == [(rig.oximeter.address, True)]
    assert after == []
    bonds = json.loads((data / "bonds.json").read_text())
    assert not any(peer.startswith(rig.oximeter.address) for peers in bonds.values() for peer in peers)
    audit = [(e["who"], e["action"], e["outcome"]) for e in AuditLog(TechnicianFiles(data).audit).entries()]
    assert audit == [("tone", "scan", "done"), ("tone", "pair", "paired"), ("tone", "unpair", "done")]


def test_the_pairing_commands_are_in_heima_technician_help() -> None:
    parser = build_parser()
    args = parser.parse_args(["technician", "pair", "F0:11:22:33:44:01", "--timeout", "20"])
    assert (args.technician_command, args.address, args.timeout) == ("pair", "F0:11:22:33:44:01", 20.0)
    assert parser.parse_args(["technician", "scan"]).seconds == 10.0
    assert parser.parse_args(["technician", "unpair", "F0:11:22:33:44:01"]).technician_command == "unpair"
