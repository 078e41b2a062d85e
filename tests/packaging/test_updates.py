"""Signed updates: a real TUF repository (tests/packaging/tuf_repo.py, signed with ed25519 keys)
served from files, the hub's update client (python-tuf ngclient) with its trusted metadata
persisted in a state folder. A verified newer release is downloaded; a rolled-back, expired,
unsigned or tampered one is refused and nothing is downloaded for install."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner

from hub.platform.updates import Refusal, Release, UpdateClient, UpdateRefused, parse_version
from tests.packaging.tuf_repo import Repository

ARCH = "arm64"
DEB_020 = b"!<arch>\nheima 0.2.0 for arm64\n"


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    repository = Repository(tmp_path / "repo")
    repository.release(ARCH, "0.2.0", DEB_020)
    repository.publish()
    return repository


def client(repo: Repository, state: Path) -> UpdateClient:
    """A hub's updater: a new one per run, as each `heima-update` run is a new process."""
    return UpdateClient(repository_url=repo.url(), arch=ARCH, state_dir=state, pinned_root=repo.root_json)


def refused(reason: Refusal, call) -> UpdateRefused:  # noqa: ANN001
    with pytest.raises(UpdateRefused) as caught:
        call()
    assert caught.value.reason == reason, caught.value
    return caught.value


def test_a_signed_newer_release_is_found_and_downloaded_verified(repo: Repository, tmp_path: Path) -> None:
    updater = client(repo, tmp_path / "state")
    release = updater.check("0.1.0")
    assert release == Release("0.2.0", f"heima_0.2.0_{ARCH}.deb")
    assert updater.download(release).read_bytes() == DEB_020
    # Trusted metadata is kept on the hub for the next run.
    assert {"root.json", "timestamp.json", "snapshot.json", "targets.json"} <= {
        p.name for p in (tmp_path / "state" / "metadata").iterdir()
    }
    assert client(repo, tmp_path / "state").check("0.2.0") is None  # current: nothing to do


def test_rolled_back_metadata_is_refused_by_a_hub_that_has_seen_newer(repo: Repository, tmp_path: Path) -> None:
    repo.save(tmp_path / "old-metadata")
    repo.release(ARCH, "0.3.0", b"0.3.0")
    repo.publish()
    assert client(repo, tmp_path / "state").check("0.2.0") == Release("0.3.0", f"heima_0.3.0_{ARCH}.deb")
    # A mirror (or an attacker) serves the older, validly signed metadata again: a later run,
    # a new process, still remembers what it has seen.
    repo.restore(tmp_path / "old-metadata")
    error = refused(Refusal.ROLLBACK, lambda: client(repo, tmp_path / "state").check("0.2.0"))
    assert "older metadata" in str(error)


def test_a_signed_release_older_than_the_installed_one_is_refused(repo: Repository, tmp_path: Path) -> None:
    repo.release(ARCH, "0.1.5", b"0.1.5")
    repo.publish()
    error = refused(Refusal.DOWNGRADE, lambda: client(repo, tmp_path / "state").check("0.2.0"))
    assert "0.1.5" in str(error) and "0.2.0" in str(error)


def test_expired_metadata_is_refused(repo: Repository, tmp_path: Path) -> None:
    repo.publish(expires_in=-timedelta(hours=1))
    refused(Refusal.EXPIRED, lambda: client(repo, tmp_path / "state").check("0.1.0"))
    assert not (tmp_path / "state" / "downloads" / f"heima_0.2.0_{ARCH}.deb").exists()


def test_metadata_signed_by_a_key_the_hub_does_not_trust_is_refused(repo: Repository, tmp_path: Path) -> None:
    repo.publish(timestamp_signer=CryptoSigner.generate_ed25519())
    refused(Refusal.UNSIGNED, lambda: client(repo, tmp_path / "state").check("0.1.0"))


def test_metadata_with_its_signature_stripped_is_refused(repo: Repository, tmp_path: Path) -> None:
    import json

    path = repo.metadata / "timestamp.json"
    data = json.loads(path.read_text())
    data["signatures"] = []
    path.write_text(json.dumps(data))
    refused(Refusal.UNSIGNED, lambda: client(repo, tmp_path / "state").check("0.1.0"))


def test_a_package_changed_after_signing_is_refused(repo: Repository, tmp_path: Path) -> None:
    updater = client(repo, tmp_path / "state")
    release = updater.check("0.1.0")
    assert release is not None
    (repo.targets_dir / release.target).write_bytes(DEB_020.replace(b"0.2.0", b"9.9.9"))
    refused(Refusal.TAMPERED, lambda: updater.download(release))
    assert not (tmp_path / "state" / "downloads" / release.target).exists()


def test_a_package_built_without_update_keys_says_so(repo: Repository, tmp_path: Path) -> None:
    updater = UpdateClient(repository_url=repo.url(), arch=ARCH, state_dir=tmp_path / "state", pinned_root=tmp_path / "none.json")
    error = refused(Refusal.NOT_SET_UP, lambda: updater.check("0.1.0"))
    assert "--update-root" in str(error)


def test_an_unreachable_repository_is_a_refusal_not_a_crash(repo: Repository, tmp_path: Path) -> None:
    updater = UpdateClient(
        repository_url=(tmp_path / "gone").as_uri(), arch=ARCH, state_dir=tmp_path / "state", pinned_root=repo.root_json
    )
    refused(Refusal.UNREACHABLE, lambda: updater.check("0.1.0"))


def test_release_versions_are_dotted_numbers() -> None:
    assert parse_version("0.10.0") > parse_version("0.9.9")
    for bad in ("", "1.x", "1.0-rc1", "v1"):
        with pytest.raises(ValueError):
            parse_version(bad)
