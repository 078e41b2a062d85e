"""A tiny TUF repository writer for the tests (what the centre's release tooling does, with its
keys offline): one ed25519 key per top-level role from securesystemslib's CryptoSigner, metadata
from tuf.api.metadata, written as files a file:// URL serves."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import MetaFile, Metadata, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

ROLES = (Root.type, Targets.type, Snapshot.type, Timestamp.type)


class Repository:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.metadata = path / "metadata"
        self.targets_dir = path / "targets"
        self.metadata.mkdir(parents=True)
        self.targets_dir.mkdir()
        self.signers = {role: CryptoSigner.generate_ed25519() for role in ROLES}
        week = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
        root = Root(expires=week, consistent_snapshot=False)
        for role, signer in self.signers.items():
            root.add_key(signer.public_key, role)
        self.root = Metadata(root)
        self.targets = Metadata(Targets(expires=week))
        self.snapshot = Metadata(Snapshot(expires=week))
        self.timestamp = Metadata(Timestamp(expires=week))
        self._write(self.root, f"{self.root.signed.version}.root.json")

    @property
    def root_json(self) -> Path:
        return self.metadata / "1.root.json"

    def add_target(self, name: str, data: bytes) -> None:
        (self.targets_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (self.targets_dir / name).write_bytes(data)
        self.targets.signed.targets[name] = TargetFile.from_data(name, data, ["sha256"])

    def release(self, arch: str, version: str, deb: bytes) -> None:
        """A .deb and the channel pointing at it, as the centre publishes a release."""
        name = f"heima_{version}_{arch}.deb"
        self.add_target(name, deb)
        self.add_target(f"channels/{arch}.json", json.dumps({"version": version, "target": name}).encode())

    def publish(self, *, expires_in: timedelta = timedelta(days=7), timestamp_signer: CryptoSigner | None = None) -> None:
        """New versions of targets, snapshot and timestamp, signed (the timestamp by
        `timestamp_signer` when given: a key the hub does not trust)."""
        expires = datetime.now(UTC).replace(microsecond=0) + expires_in
        self.targets.signed.version += 1
        self.snapshot.signed.version += 1
        self.timestamp.signed.version += 1
        for md in (self.targets, self.snapshot, self.timestamp):
            md.signed.expires = expires
        self.snapshot.signed.meta["targets.json"] = MetaFile(version=self.targets.signed.version)
        self.timestamp.signed.snapshot_meta = MetaFile(version=self.snapshot.signed.version)
        self._write(self.targets, "targets.json")
        self._write(self.snapshot, "snapshot.json")
        self._write(self.timestamp, "timestamp.json", signer=timestamp_signer)

    def _write(self, md: Metadata, name: str, signer: CryptoSigner | None = None) -> None:
        md.signatures.clear()
        md.sign(signer or self.signers[md.signed.type])
        md.to_file(str(self.metadata / name), JSONSerializer(compact=False))

    def save(self, where: Path) -> None:
        shutil.copytree(self.metadata, where)

    def restore(self, saved: Path) -> None:
        """Serve older metadata again (what a rollback attacker or a stale mirror does)."""
        shutil.rmtree(self.metadata)
        shutil.copytree(saved, self.metadata)

    def url(self) -> str:
        return self.path.as_uri()
