"""The BlueZ pairing agent's logic, without BlueZ: path -> address, the pairing window, what is
asked of the passkey provider and what is rejected. One test drives the real D-Bus methods over a
private dbus-daemon (skipped where there is none) with a stand-in for bluetoothd's AgentManager1."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusObjectPath, DBusStr
from dbus_fast.service import ServiceInterface, dbus_method

from drivers.bluez_agent import (
    AGENT_INTERFACE,
    AGENT_PATH,
    CANCELED,
    REJECTED,
    AgentRegistrationError,
    BluezAgent,
    PairingWindow,
    address_from_path,
    register_agent,
    unregister_agent,
)
from drivers.pairing import FixedPasskeyProvider, PasskeyProvider, RefusingPasskeyProvider
from hub.domain.readings import DeviceIdentity

ADDRESS = "AA:BB:CC:DD:EE:01"
PATH = "/org/bluez/hci0/dev_AA_BB_CC_DD_EE_01"
STRANGER = "/org/bluez/hci0/dev_66_55_44_33_22_11"


class Recording:
    """A passkey provider that records who was asked and answers as told."""

    def __init__(self, passkey: Any = 123456, confirm: bool = True) -> None:
        self.passkey = passkey
        self.confirm = confirm
        self.asked: list[tuple[str, DeviceIdentity | str, int | None]] = []

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        self.asked.append(("passkey", device, None))
        return self.passkey

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        self.asked.append(("confirm", device, number))
        return self.confirm


class Waiting:
    """A provider whose dialog stays open until cancelled."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.closed = False

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        self.opened.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.closed = True
            raise
        return None

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        return False


def agent_for(provider: PasskeyProvider, *addresses: str, **options: Any) -> BluezAgent:
    window = PairingWindow()
    for address in addresses:
        window.open(address)
    return BluezAgent(provider, window, **options)


def rejected(error: pytest.ExceptionInfo[DBusError]) -> bool:
    return error.value.type == REJECTED


# -- paths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "address"),
    [
        ("/org/bluez/hci0/dev_AA_BB_CC_DD_EE_01", "AA:BB:CC:DD:EE:01"),
        ("/org/bluez/hci1/dev_a0_b1_c2_d3_e4_f5", "A0:B1:C2:D3:E4:F5"),
        ("/org/bluez/hci0/dev_AA_BB_CC_DD_EE_01/service000c/char000d", "AA:BB:CC:DD:EE:01"),
        ("/org/bluez/hci0", None),
        ("/org/bluez/hci0/dev_AA_BB_CC_DD_EE", None),
        ("/org/bluez/hci0/dev_AA_BB_CC_DD_EE_GG", None),
        ("/org/bluez/hci0/dev_AA_BB_CC_DD_EE_01_02", None),
        ("/org/other/hci0/dev_AA_BB_CC_DD_EE_01", None),
        ("", None),
    ],
)
def test_device_paths_map_to_addresses(path: str, address: str | None) -> None:
    assert address_from_path(path) == address


# -- the pairing window ---------------------------------------------------------------------------


def test_pairing_window_follows_the_link_manager() -> None:
    window = PairingWindow()
    window.follow("device-found", {"address": ADDRESS})
    assert ADDRESS not in window
    window.follow("connected", {"address": ADDRESS.lower(), "name": "x", "driver": "y"})
    assert ADDRESS in window
    window.follow("reading", {"address": ADDRESS})
    assert ADDRESS in window
    window.follow("disconnected", {"address": ADDRESS, "ended_by": "hub"})
    assert ADDRESS not in window
    window.follow("connected", {})  # no address: ignored
    with window.pairing(ADDRESS):
        assert ADDRESS in window
    assert ADDRESS not in window and 42 not in window


# -- passkey and numeric comparison ---------------------------------------------------------------


async def test_request_passkey_asks_the_provider_for_a_device_being_paired() -> None:
    provider = Recording(passkey=314159)
    agent = agent_for(provider, ADDRESS, name_of=lambda address: "Contour" if address == ADDRESS else None)
    assert await agent.request_passkey(PATH) == 314159
    assert provider.asked == [("passkey", DeviceIdentity(address=ADDRESS, name="Contour"), None)]


async def test_request_passkey_from_a_stranger_is_rejected_without_asking() -> None:
    provider = Recording()
    agent = agent_for(provider, ADDRESS)
    with pytest.raises(DBusError) as error:
        await agent.request_passkey(STRANGER)
    assert rejected(error) and provider.asked == []
    with pytest.raises(DBusError) as error:
        await agent.request_passkey("/org/bluez/hci0")
    assert rejected(error) and provider.asked == []


@pytest.mark.parametrize("answer", [None, -1, 1_000_000, "123456"])
async def test_cancelled_or_impossible_passkeys_are_rejected(answer: Any) -> None:
    agent = agent_for(Recording(passkey=answer), ADDRESS)
    with pytest.raises(DBusError) as error:
        await agent.request_passkey(PATH)
    assert rejected(error)


async def test_refusing_provider_rejects() -> None:
    agent = agent_for(RefusingPasskeyProvider(), ADDRESS)
    with pytest.raises(DBusError) as error:
        await agent.request_passkey(PATH)
    assert rejected(error)
    with pytest.raises(DBusError) as error:
        await agent.request_confirmation(PATH, 123456)
    assert rejected(error)


async def test_numeric_comparison_goes_to_the_provider() -> None:
    yes = Recording(confirm=True)
    assert await agent_for(yes, ADDRESS).request_confirmation(PATH, 42) is None
    assert yes.asked == [("confirm", DeviceIdentity(address=ADDRESS), 42)]
    no = Recording(confirm=False)
    with pytest.raises(DBusError) as error:
        await agent_for(no, ADDRESS).request_confirmation(PATH, 42)
    assert rejected(error)
    stranger = Recording()
    with pytest.raises(DBusError):
        await agent_for(stranger, ADDRESS).request_confirmation(STRANGER, 42)
    assert stranger.asked == []


async def test_legacy_pin_codes_are_rejected() -> None:
    provider = Recording()
    with pytest.raises(DBusError) as error:
        await agent_for(provider, ADDRESS).request_pin_code(PATH)
    assert rejected(error) and provider.asked == []


# -- authorisation, display, cancel, release ------------------------------------------------------


def test_authorisation_only_for_devices_being_paired() -> None:
    agent = agent_for(Recording(), ADDRESS)
    agent.request_authorization(PATH)
    agent.authorize_service(PATH, "00001808-0000-1000-8000-00805f9b34fb")
    for call in (lambda: agent.request_authorization(STRANGER), lambda: agent.authorize_service(STRANGER, "1808")):
        with pytest.raises(DBusError) as error:
            call()
        assert rejected(error)


def test_displayed_numbers_go_to_the_screen_never_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    shown: list[tuple[DeviceIdentity, str]] = []
    agent = agent_for(Recording(), ADDRESS, display=lambda device, secret: shown.append((device, secret)))
    caplog.set_level(logging.DEBUG, logger="drivers.bluez_agent")
    agent.display_passkey(PATH, 4321, 0)
    agent.display_pin_code(PATH, "987654")
    assert shown == [(DeviceIdentity(address=ADDRESS), "004321"), (DeviceIdentity(address=ADDRESS), "987654")]
    text = caplog.text
    assert "4321" not in text and "987654" not in text and ADDRESS in text
    with pytest.raises(DBusError):
        agent.display_passkey(STRANGER, 1, 0)


async def test_cancel_withdraws_the_question_in_flight() -> None:
    provider = Waiting()
    agent = agent_for(provider, ADDRESS)
    asking = asyncio.create_task(agent.request_passkey(PATH))
    await asyncio.wait_for(provider.opened.wait(), 1)
    agent.cancel()
    with pytest.raises(DBusError) as error:
        await asking
    assert error.value.type == CANCELED and provider.closed


async def test_release_cancels_and_marks_the_agent_released() -> None:
    provider = Waiting()
    agent = agent_for(provider, ADDRESS)
    asking = asyncio.create_task(agent.request_passkey(PATH))
    await asyncio.wait_for(provider.opened.wait(), 1)
    agent.release()
    with pytest.raises(DBusError):
        await asking
    assert agent.released


async def test_cancelling_the_caller_is_not_turned_into_a_dbus_error() -> None:
    provider = Waiting()
    asking = asyncio.create_task(agent_for(provider, ADDRESS).request_passkey(PATH))
    await asyncio.wait_for(provider.opened.wait(), 1)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking


# -- the D-Bus surface ----------------------------------------------------------------------------


def test_exported_methods_have_bluez_signatures() -> None:
    interface = BluezAgent(Recording()).introspect()
    assert interface.name == AGENT_INTERFACE
    signatures = {m.name: ("".join(a.signature for a in m.in_args), "".join(a.signature for a in m.out_args)) for m in interface.methods}
    assert signatures == {
        "Release": ("", ""),
        "RequestPinCode": ("o", "s"),
        "DisplayPinCode": ("os", ""),
        "RequestPasskey": ("o", "u"),
        "DisplayPasskey": ("ouq", ""),
        "RequestConfirmation": ("ou", ""),
        "RequestAuthorization": ("o", ""),
        "AuthorizeService": ("os", ""),
        "Cancel": ("", ""),
    }


class FakeAgentManager(ServiceInterface):
    """What bluetoothd's org.bluez.AgentManager1 does with registrations (records them)."""

    def __init__(self, refuse: bool = False) -> None:
        super().__init__("org.bluez.AgentManager1")
        self.calls: list[tuple[str, ...]] = []
        self.refuse = refuse

    @dbus_method()
    def RegisterAgent(self, agent: DBusObjectPath, capability: DBusStr):  # noqa: N802
        if self.refuse:
            raise DBusError("org.bluez.Error.AlreadyExists", "already exists")
        self.calls.append(("RegisterAgent", agent, capability))

    @dbus_method()
    def RequestDefaultAgent(self, agent: DBusObjectPath):  # noqa: N802
        self.calls.append(("RequestDefaultAgent", agent))

    @dbus_method()
    def UnregisterAgent(self, agent: DBusObjectPath):  # noqa: N802
        self.calls.append(("UnregisterAgent", agent))


_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture
async def private_bus(tmp_path: Path) -> AsyncIterator[str]:
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("no dbus-daemon")
    socket = tmp_path / "bus"
    config = tmp_path / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket=socket))
    process = subprocess.Popen([daemon, f"--config-file={config}", "--nofork", "--nopidfile"], env={**os.environ})
    try:
        for _ in range(200):
            if socket.exists():
                break
            await asyncio.sleep(0.01)
        else:
            pytest.skip("dbus-daemon did not start")
        yield f"unix:path={socket}"
    finally:
        process.terminate()
        process.wait(5)


async def call_agent(bluez: MessageBus, hub: MessageBus, member: str, signature: str, body: list[Any]) -> Message:
    reply = await bluez.call(
        Message(destination=hub.unique_name, path=AGENT_PATH, interface=AGENT_INTERFACE, member=member, signature=signature, body=body)
    )
    assert reply is not None
    return reply


async def test_over_a_private_dbus_daemon(private_bus: str) -> None:
    bluez = await MessageBus(bus_address=private_bus).connect()
    hub = await MessageBus(bus_address=private_bus).connect()
    try:
        manager = FakeAgentManager()
        bluez.export("/org/bluez", manager)
        await bluez.request_name("org.bluez")
        provider = Recording(passkey=246810)
        agent = agent_for(provider, ADDRESS)
        await register_agent(hub, agent)
        assert manager.calls == [("RegisterAgent", AGENT_PATH, "KeyboardDisplay"), ("RequestDefaultAgent", AGENT_PATH)]

        # bluetoothd asks, as it would while pairing
        reply = await call_agent(bluez, hub, "RequestPasskey", "o", [PATH])
        assert reply.message_type == MessageType.METHOD_RETURN and reply.signature == "u" and reply.body == [246810]
        reply = await call_agent(bluez, hub, "RequestPasskey", "o", [STRANGER])
        assert reply.message_type == MessageType.ERROR and reply.error_name == REJECTED
        reply = await call_agent(bluez, hub, "RequestConfirmation", "ou", [PATH, 123456])
        assert reply.message_type == MessageType.METHOD_RETURN
        reply = await call_agent(bluez, hub, "AuthorizeService", "os", [STRANGER, "1808"])
        assert reply.error_name == REJECTED
        reply = await call_agent(bluez, hub, "RequestPinCode", "o", [PATH])
        assert reply.error_name == REJECTED
        reply = await call_agent(bluez, hub, "Release", "", [])
        assert reply.message_type == MessageType.METHOD_RETURN and agent.released

        await unregister_agent(hub, agent)
        assert manager.calls[-1] == ("UnregisterAgent", AGENT_PATH)
        reply = await call_agent(bluez, hub, "RequestPasskey", "o", [PATH])
        assert reply.message_type == MessageType.ERROR  # unexported

        # bluetoothd refuses: nothing stays exported
        manager.refuse = True
        with pytest.raises(AgentRegistrationError, match="RegisterAgent"):
            await register_agent(hub, BluezAgent(FixedPasskeyProvider(1)))
        reply = await call_agent(bluez, hub, "Cancel", "", [])
        assert reply.message_type == MessageType.ERROR
    finally:
        hub.disconnect()
        bluez.disconnect()


async def test_registration_without_bluez_fails_cleanly(private_bus: str) -> None:
    hub = await MessageBus(bus_address=private_bus).connect()
    try:
        with pytest.raises(AgentRegistrationError):
            await register_agent(hub, BluezAgent(FixedPasskeyProvider(1)))
    finally:
        hub.disconnect()
