"""Device resources for the sensors (PHD IG "PhdDevice") and for the hub as gateway ("PhgDevice").

Identifier values follow the PHD IG: a Bluetooth address as an EUI-48 in upper-case hex pairs
joined by dashes (`00-E5-DE-AD-77-C3`), a system id as an EUI-64 in the same form
(`FE-ED-AB-EE-DE-AD-77-C3`). Each Device has one *key* identifier, used for conditional create and
for logical references: the Bluetooth address when the device has one, else its system id, else a
name derived from whatever address the platform gave us.
"""

from __future__ import annotations

import re
import uuid
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from hub.domain.digests import sha1, uuid5
from hub.domain.readings import DeviceIdentity
from sync.fhir.codes import (
    BLUETOOTH_MAC,
    BTMAC,
    EUI64_SYSTEM_ID,
    FIRMWARE_REVISION,
    MDS_GATEWAY,
    MDS_SIMPLE,
    SOFTWARE_REVISION,
    SYSID,
    URI_IDENTIFIER,
    Coding,
)
from sync.fhir.context import HubIdentity

# Names Heima derives (stable across runs and hubs) live under this UUID namespace.
HEIMA_NAMESPACE = uuid5(uuid.NAMESPACE_URL, "urn:heima")
_NAMESPACE_BYTES = HEIMA_NAMESPACE.bytes


def heima_urn(name: str) -> str:
    """`urn:uuid:` + uuid5(HEIMA_NAMESPACE, name), as text: RFC 4122's SHA-1 name-based UUID
    written straight from the digest's hex (asked for every entry of every bundle; a UUID object
    and its str() cost several times more): the namespace hashed once, the version nibble is 5,
    the variant's two top bits 10 (its hex digit looked up)."""
    sha = _NAMESPACE_SHA1.copy()
    sha.update(name.encode())
    h = sha.hexdigest()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


_NAMESPACE_SHA1 = sha1(_NAMESPACE_BYTES)
_VARIANT_DIGIT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}

_HEX = re.compile(r"[0-9A-Fa-f]+")


def _hex_pairs(raw: str | None, octets: int) -> str | None:
    if not raw:
        return None
    digits = re.sub(r"[\s:\-.]", "", raw)
    if len(digits) != 2 * octets or not _HEX.fullmatch(digits):
        return None
    digits = digits.upper()
    return "-".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def bluetooth_address(address: str | None) -> str | None:
    """`aa:bb:cc:dd:ee:ff` -> `AA-BB-CC-DD-EE-FF`; None when it is not a 48-bit address (e.g. a
    CoreBluetooth UUID)."""
    return _hex_pairs(address, 6)


def system_id(value: str | None) -> str | None:
    """16 hex digits (separators allowed) -> `FE-ED-AB-EE-DE-AD-77-C3`; None when malformed."""
    return _hex_pairs(value, 8)


def _identifier(system: str, value: str, type_: Coding | None = None) -> dict[str, Any]:
    identifier: dict[str, Any] = {}
    if type_ is not None:
        identifier["type"] = {"coding": [type_.to_fhir()]}
    identifier["system"] = system
    identifier["value"] = value
    return identifier


# A part with nothing to escape nor to URL-encode (a urn:uuid, most systems) is itself.
_PLAIN = re.compile(r"[A-Za-z0-9:/\-._~@]*")


def _token_part(part: str) -> str:
    if _PLAIN.fullmatch(part):
        return part
    return quote(re.sub(r"([\\,$|])", r"\\\1", part), safe=":/-._~@")


_system_part = lru_cache(maxsize=64)(_token_part)  # a handful of systems, asked for every entry


def search_token(system: str, value: str) -> str:
    """`system|value` as a search parameter value: FHIR escapes first, then URL-encoding."""
    return f"{_system_part(system)}|{_token_part(value)}"


def identifier_query(system: str, value: str) -> str:
    """The `ifNoneExist` query that finds a resource by this identifier."""
    return f"identifier={search_token(system, value)}"


# -- sensors ---------------------------------------------------------------------------------------------


# The same few devices name every measurement of a backlog: what is derived from one is derived
# once (the cached dicts are shared between Observations: read, never changed).
@lru_cache(maxsize=256)
def device_key(identity: DeviceIdentity) -> tuple[str, str]:
    """(system, value) of the identifier that names this device for conditional create."""
    mac = bluetooth_address(identity.address)
    if mac:
        return BLUETOOTH_MAC, mac
    sysid = system_id(identity.system_id)
    if sysid:
        return EUI64_SYSTEM_ID, sysid
    return URI_IDENTIFIER, f"urn:uuid:{uuid5(HEIMA_NAMESPACE, f'device-address:{identity.address}')}"


@lru_cache(maxsize=256)
def device_reference(identity: DeviceIdentity) -> dict[str, Any]:
    """A logical reference (by identifier) to the device, for destinations without Device entries."""
    system, value = device_key(identity)
    ref: dict[str, Any] = {"type": "Device", "identifier": {"system": system, "value": value}}
    display = identity.name or identity.model
    if display:
        ref["display"] = display
    return ref


def device_for(identity: DeviceIdentity) -> dict[str, Any]:
    """The sensor's Device resource (PHD IG PhdDevice, as far as BLE tells us)."""
    identifiers = []
    sysid = system_id(identity.system_id)
    if sysid:
        identifiers.append(_identifier(EUI64_SYSTEM_ID, sysid, SYSID))
    mac = bluetooth_address(identity.address)
    if mac:
        identifiers.append(_identifier(BLUETOOTH_MAC, mac, BTMAC))
    key_system, key_value = device_key(identity)
    if key_system == URI_IDENTIFIER:
        identifiers.append(_identifier(key_system, key_value))
    device: dict[str, Any] = {"resourceType": "Device", "identifier": identifiers}
    if identity.manufacturer:
        device["manufacturer"] = identity.manufacturer
    if identity.serial:
        device["serialNumber"] = identity.serial
    if identity.name:
        device["deviceName"] = [{"name": identity.name, "type": "user-friendly-name"}]
    if identity.model:
        device["modelNumber"] = identity.model
    device["type"] = {"coding": [MDS_SIMPLE.to_fhir()], "text": "Personal health device"}
    if identity.firmware:
        device["version"] = [{"type": {"coding": [FIRMWARE_REVISION.to_fhir()]}, "value": identity.firmware}]
    return device


# -- the hub --------------------------------------------------------------------------------------------------


def hub_key(hub: HubIdentity) -> tuple[str, str]:
    return hub.serial_system, hub.serial


@lru_cache(maxsize=16)
def hub_reference(hub: HubIdentity) -> dict[str, Any]:
    system, value = hub_key(hub)
    ref: dict[str, Any] = {"type": "Device", "identifier": {"system": system, "value": value}}
    if hub.name:
        ref["display"] = hub.name
    return ref


def hub_device_for(hub: HubIdentity) -> dict[str, Any]:
    """The hub's Device resource (PHD IG PhgDevice: the gateway)."""
    identifiers = []
    sysid = system_id(hub.system_id)
    if sysid:
        identifiers.append(_identifier(EUI64_SYSTEM_ID, sysid, SYSID))
    identifiers.append(_identifier(*hub_key(hub)))
    device: dict[str, Any] = {"resourceType": "Device", "identifier": identifiers, "serialNumber": hub.serial}
    if hub.manufacturer:
        device["manufacturer"] = hub.manufacturer
    if hub.name:
        device["deviceName"] = [{"name": hub.name, "type": "user-friendly-name"}]
    if hub.model:
        device["modelNumber"] = hub.model
    device["type"] = {"coding": [MDS_GATEWAY.to_fhir()], "text": "Personal health gateway"}
    if hub.software_version:
        device["version"] = [{"type": {"coding": [SOFTWARE_REVISION.to_fhir()]}, "value": hub.software_version}]
    return device
