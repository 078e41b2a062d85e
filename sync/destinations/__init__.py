"""Destinations: where measurements go (implementations of `sync.delivery.Destination`)."""

from sync.destinations.directory import DirectoryDestination
from sync.destinations.fhir_server import FhirServerDestination
from sync.destinations.nhn_pmd import NhnPmdDestination

__all__ = ["DirectoryDestination", "FhirServerDestination", "NhnPmdDestination"]
