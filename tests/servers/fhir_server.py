"""The reference FHIR server for tests: Medplum's in-memory engine (tests/servers/fhir/server.mjs).

One Node process per pytest process, started the first time a test asks for `fhir_server` and
stopped when pytest ends; every test gets it freshly reset (empty repository, no faults, zeroed
counters). Use it in `tests/conftest.py` with

    from tests.servers.fhir_server import fhir_server  # noqa: F401

The harness's own reads (`observations`, `resources`) carry `x-heima-harness: 1`, so they never
consume a scripted fault and never show in `stats()`.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent / "fhir"
NODE = HERE / "node_modules" / ".bin" / "node"
SERVER = HERE / "server.mjs"
HARNESS = {"x-heima-harness": "1"}


class ReferenceFhirServerError(RuntimeError):
    pass


class ReferenceFhirServer:
    """A running reference server on a free loopback port."""

    def __init__(self, *, startup_timeout: float = 30.0, identifier_index: bool = False) -> None:
        """`identifier_index`: index identifier searches like a database-backed server (benchmarks)."""
        self._startup_timeout = startup_timeout
        self.identifier_index = identifier_index
        self._proc: subprocess.Popen[str] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="heima-fhir-", suffix=".log", delete=False)  # noqa: SIM115
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._http: httpx.Client | None = None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> ReferenceFhirServer:
        if not NODE.exists() or not (HERE / "node_modules" / "@medplum" / "fhir-router").exists():
            raise ReferenceFhirServerError(
                f"the reference FHIR server is not installed ({HERE / 'node_modules'} is missing): "
                "run make test (it installs the reference server)"
            )
        started = time.monotonic()
        self._proc = subprocess.Popen(
            [str(NODE), str(SERVER), "0"],
            cwd=HERE,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, "HEIMA_FHIR_IDENTIFIER_INDEX": "1" if self.identifier_index else "0"},
        )
        line = self._read_first_line()
        if not line.startswith("listening "):
            self.stop()
            raise ReferenceFhirServerError(f"reference FHIR server did not start: {line!r}\n{self.log_tail()}")
        self.port = int(line.split()[1])
        self.startup_seconds = time.monotonic() - started
        self._http = httpx.Client(timeout=10.0)
        return self

    def _read_first_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self._proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self._startup_timeout)
        if not result:
            return f"<no answer within {self._startup_timeout}s>"
        return result[0].strip() or f"<exited with {self._proc.poll()}>"

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None
        self._log.close()

    def __enter__(self) -> ReferenceFhirServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-chars:]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- addresses -------------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        if self.port is None:
            raise ReferenceFhirServerError("reference FHIR server is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/fhir/R4"

    # -- control -----------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            raise ReferenceFhirServerError("reference FHIR server is not running")
        return self._http

    def reset(self) -> None:
        """Empty the repository, drop queued faults, zero the counters."""
        self.http.post(f"{self.origin}/$heima-reset").raise_for_status()

    def fault(self, mode: str, *, count: int = 1, **options: Any) -> None:
        """Script a fault for the next `count` FHIR requests.

        Modes: "drop-after-commit" (process, then close the socket without answering),
        "truncate" (process, then send half the body), "status" (status=, retryAfter=, body=,
        contentType=; answered without processing), "delay" (ms=), "clear".
        """
        response = self.http.post(f"{self.origin}/$heima-fault", json={"mode": mode, "count": count, **options})
        response.raise_for_status()

    def stats(self) -> dict[str, Any]:
        """{"requests": n, "byRoute": {"POST /": n, ...}, "faults": n, "pendingFaults": [...]}"""
        response = self.http.get(f"{self.origin}/$heima-stats")
        response.raise_for_status()
        return response.json()

    # -- reads (never faulted, never counted) ----------------------------------------------------------

    def resources(self, resource_type: str, **params: str) -> list[dict[str, Any]]:
        response = self.http.get(
            f"{self.base_url}/{resource_type}", params={"_count": "1000", **params}, headers=HARNESS
        )
        response.raise_for_status()
        bundle = response.json()
        if bundle.get("resourceType") != "Bundle":
            raise ReferenceFhirServerError(f"search answered {json.dumps(bundle)[:500]}")
        return [entry["resource"] for entry in bundle.get("entry", [])]

    def observations(self, identifier: str | None = None) -> list[dict[str, Any]]:
        """All Observations, or those with this identifier (a urn:uuid: value, or system|value)."""
        if identifier is None:
            return self.resources("Observation")
        if "|" not in identifier:
            identifier = f"urn:ietf:rfc:3986|{identifier}"
        return self.resources("Observation", identifier=identifier)


_shared: ReferenceFhirServer | None = None


def shared_server(config: pytest.Config | None = None) -> ReferenceFhirServer:
    """The process-wide server, started on first use (stopped when pytest ends, or at exit)."""
    global _shared
    if _shared is None or not _shared.running:
        _shared = ReferenceFhirServer().start()
        if config is not None:
            config.add_cleanup(_stop_shared)
        else:  # pragma: no cover - use outside pytest
            import atexit

            atexit.register(_stop_shared)
    return _shared


def _stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


@pytest.fixture
def fhir_server(request: pytest.FixtureRequest) -> Iterator[ReferenceFhirServer]:
    """A reference FHIR server with an empty repository and no faults queued."""
    server = shared_server(request.config)
    server.reset()
    yield server
