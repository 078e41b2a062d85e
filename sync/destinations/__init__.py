"""Destinations: where measurements go (implementations of `sync.delivery.Destination`)."""

from sync.destinations.directory import DirectoryDestination
from sync.destinations.fhir_server import FhirServerDestination

__all__ = ["DirectoryDestination", "FhirServerDestination"]
