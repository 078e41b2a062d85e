"""What the hub writes that holds patient data or keys is its user's alone, whatever the umask it
was started with: the data folder 0700; the Bluetooth bonds, bundle files 0600; a bundle folder it
creates 0700. And a bundle written with no patient configured says so."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import HubConfig
from hub.platform.private_files import SharedFolderError, private_folder
from sync.destinations.directory import DirectoryDestination
from sync.fhir.context import HubIdentity, PatientRef
from tests.servers.samples import CTX, batch

UMASKS = [0o022, 0o000]


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", UMASKS, ids=["umask-022", "umask-000"])
async def test_the_demo_leaves_its_data_folder_bonds_and_bundles_to_the_hub_user_alone(tmp_path, mask):
    from hub.app import run_demo

    data_dir = tmp_path / "heima-data"
    with umask(mask):
        status = await run_demo(dataclasses.replace(HubConfig(), data_dir=data_dir), say=lambda _: None)
    assert status == 0
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "bonds.json") == 0o600  # the oximeter bonded: its link keys are in it
    assert json.loads((data_dir / "bonds.json").read_text())  # and they are really there
    bundles = data_dir / "bundles"
    assert mode(bundles) == 0o700
    files = list(bundles.iterdir())
    assert files and all(mode(f) == 0o600 for f in files)


@pytest.mark.parametrize("mask", UMASKS, ids=["umask-022", "umask-000"])
async def test_a_bundle_folder_the_hub_creates_and_its_files_are_private(tmp_path, mask):
    folder = tmp_path / "usb" / "heima"
    (tmp_path / "usb").mkdir()
    with umask(mask):
        await DirectoryDestination("usb", folder, ctx=CTX).send(batch(2))
        await DirectoryDestination("usb", folder, ctx=CTX).send(batch(1))  # into the existing folder
    assert mode(folder) == 0o700
    files = list(folder.iterdir())
    assert len(files) == 2 and all(mode(f) == 0o600 for f in files)


@pytest.mark.parametrize("mask", UMASKS, ids=["umask-022", "umask-000"])
def test_a_data_folder_that_others_could_read_is_narrowed_and_a_new_one_is_private(tmp_path, mask):
    old = tmp_path / "old"
    old.mkdir()
    old.chmod(0o755)
    with umask(mask):
        private_folder(old)
        new = private_folder(tmp_path / "a" / "new")
    assert mode(old) == 0o700 and mode(new) == 0o700


def test_a_shared_folder_like_tmp_is_not_taken_as_the_data_folder(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(SharedFolderError, match="shared folder"):
        private_folder(shared)
    assert mode(shared) == 0o1777  # left as it was


@pytest.mark.parametrize("mask", UMASKS, ids=["umask-022", "umask-000"])
async def test_bonds_written_by_the_radio_are_private_and_an_old_open_file_is_narrowed(tmp_path, mask):
    from drivers.emulator import EmulatedPulseOximeter, VirtualRadio
    from drivers.emulator.keystore import PrivateJsonKeyStore

    keystore = tmp_path / "bonds.json"
    keystore.write_text("{}")
    keystore.chmod(0o644)  # written by an older hub
    with umask(mask):
        async with VirtualRadio(keystore_path=keystore) as radio:
            assert mode(keystore) == 0o600
            await radio.add(EmulatedPulseOximeter())
            store = radio.central.keystore
            assert isinstance(store, PrivateJsonKeyStore)
            await store.update("F0:11:22:33:44:55/P", _keys())
    assert mode(keystore) == 0o600
    assert "F0:11:22:33:44:55/P" in json.loads(keystore.read_text())[radio.hub_address]
    assert [p.name for p in tmp_path.iterdir()] == ["bonds.json"]  # no temporary file left


def _keys():
    from bumble.keys import PairingKeys

    return PairingKeys(ltk=PairingKeys.Key(value=bytes(range(16)), authenticated=True))


# -- a bundle with no patient says so ------------------------------------------------------------


async def test_a_bundle_written_with_no_patient_configured_says_so(tmp_path):
    nobody = dataclasses.replace(CTX, patient=PatientRef())
    await DirectoryDestination("usb", tmp_path, ctx=nobody).send(batch(1))
    [file] = tmp_path.iterdir()
    bundle = json.loads(file.read_text())
    assert {"system": "urn:heima:bundle-tag", "code": "no-patient"}.items() <= bundle["meta"]["tag"][0].items()
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observations and all("subject" not in o for o in observations)


async def test_a_bundle_with_the_patient_has_no_such_tag(tmp_path):
    ctx = dataclasses.replace(CTX, hub=HubIdentity(serial="HEIMA-TEST-0002"))
    await DirectoryDestination("usb", tmp_path, ctx=ctx).send(batch(1))
    [file] = tmp_path.iterdir()
    tags = json.loads(file.read_text()).get("meta", {}).get("tag", [])
    assert all(t.get("code") != "no-patient" for t in tags)
