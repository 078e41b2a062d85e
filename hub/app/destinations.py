"""Destination and credential factories: a configured destination becomes a sync adapter, with
its own connection pool, TLS settings and keys (read now, never logged)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from hub.config import AuthConfig, ConfigError, DestinationConfig, HubConfig, OrganisationConfig
from sync.delivery import Destination
from sync.destinations.directory import DirectoryDestination
from sync.fhir.context import FhirContext, HubIdentity, OrganisationRef, PatientRef

if TYPE_CHECKING:  # HTTP destinations (httpx, TLS, keys) are loaded when one is configured
    import httpx

    from sync.destinations.nhn_pmd import AckLedger


def organisation_ref(org: OrganisationConfig | None) -> OrganisationRef | None:
    if org is None:
        return None
    return OrganisationRef(identifier=org.identifier, identifier_system=org.system, display=org.display)


def fhir_context(config: HubConfig) -> FhirContext:
    # No patient configured: only a folder can be the destination (config refuses a care
    # provider's server without one), and its bundles say "no-patient" — real readings are never
    # put on the synthetic test person. The demo sets that person itself (demo_config).
    return FhirContext(
        patient=PatientRef(
            identifier=config.patient.identifier,
            identifier_system=config.patient.identifier_system,
            display=config.patient.display,
        ),
        hub=HubIdentity(serial=config.serial, name=config.name, manufacturer="Heima", model="Heima hub"),
        organisation=organisation_ref(config.organisation),
    )


def build_auth(auth: AuthConfig) -> httpx.Auth | None:
    """The destination's credentials as an httpx Auth (keys read now; never logged)."""
    if auth.kind == "none":
        return None
    from sync.auth import PrivateKeyJwtAuth, SigningKey, tls_context

    assert auth.token_url and auth.client_id and auth.key_file
    return PrivateKeyJwtAuth(
        token_url=auth.token_url,
        client_id=auth.client_id,
        client_key=SigningKey.from_file(auth.key_file, kid=auth.key_id, role="auth.key_file"),
        audience=auth.audience,
        scope=auth.scope,
        dpop=auth.dpop,
        dpop_key=SigningKey.from_file(auth.dpop_key_file, role="auth.dpop_key_file") if auth.dpop_key_file else None,
        verify=tls_context(ca_file=auth.ca_file),
    )


def build_destination(
    dest: DestinationConfig,
    ctx: FhirContext,
    http: httpx.AsyncClient | None = None,
    *,
    ledger: AckLedger | None = None,
) -> Destination:
    """One destination from its configuration. Each HTTP destination gets its own connection pool
    and TLS settings (a slow server cannot hold connections another one needs), unless a shared
    `http` client is given and the destination has no TLS settings of its own. Raises ConfigError
    when a key or certificate file cannot be used."""
    if dest.organisation is not None:
        ctx = replace(ctx, organisation=organisation_ref(dest.organisation))
    if dest.kind in ("fhir", "nhn-pmd"):
        import httpx

        from sync.auth import KeyFileError, tls_context
        from sync.destinations import FhirServerDestination, NhnPmdDestination

        assert dest.url is not None
        try:
            auth = build_auth(dest.auth)
            own_tls = dest.tls.ca_file or dest.tls.client_cert
            verify = (
                tls_context(ca_file=dest.tls.ca_file, client_cert=dest.tls.client_cert, client_key=dest.tls.client_key)
                if own_tls or http is None
                else None
            )
        except KeyFileError as exc:
            raise ConfigError(f"destination {dest.name!r}: {exc}") from None
        client = http if verify is None else None
        if dest.kind == "nhn-pmd":
            if ledger is None:
                raise ValueError("an nhn-pmd destination needs the store's ack ledger")
            assert dest.kommunenummer is not None
            return NhnPmdDestination(
                dest.name,
                dest.url,
                ctx=ctx,
                ledger=ledger,
                kommunenummer=dest.kommunenummer,
                max_entries=dest.batch_size,
                client=client,
                timeout=httpx.Timeout(dest.timeout, connect=min(10.0, dest.timeout)),
                auth=auth,
                verify=verify,
            )
        return FhirServerDestination(
            dest.name,
            dest.url,
            ctx=ctx,
            client=client,
            bundle_type=dest.bundle,  # type: ignore[arg-type]
            timeout=httpx.Timeout(dest.timeout, connect=min(10.0, dest.timeout)),
            auth=auth,
            verify=verify,
        )
    if dest.kind == "directory":
        assert dest.path is not None
        return DirectoryDestination(dest.name, dest.path, ctx=ctx)
    raise ValueError(f"unknown destination kind {dest.kind!r}")
