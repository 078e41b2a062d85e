"""Destinations: where measurements go (implementations of `sync.delivery.Destination`).

The HTTP destinations (and httpx, TLS, keys under them) are imported when first named, so a hub
that only writes to a folder does not load them."""

from typing import Any

from sync.destinations.directory import DirectoryDestination

__all__ = ["DirectoryDestination", "FhirServerDestination", "NhnPmdDestination"]


def __getattr__(name: str) -> Any:
    if name == "FhirServerDestination":
        from sync.destinations.fhir_server import FhirServerDestination

        return FhirServerDestination
    if name == "NhnPmdDestination":
        from sync.destinations.nhn_pmd import NhnPmdDestination

        return NhnPmdDestination
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
