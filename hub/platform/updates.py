"""Signed updates: a Heima package is installed only after TUF (python-tuf's ngclient) has verified
the repository's metadata and the package itself.

The repository (the centre's) publishes, as TUF targets:
- `channels/<arch>.json`: {"version": "0.2.0", "target": "heima_0.2.0_arm64.deb"}, the release a hub
  of that architecture should run;
- the `.deb` files themselves.

The trusted metadata lives in `<state>/metadata` and persists across runs: that is what makes
rollback (older metadata served again) and freeze (stale metadata past its expiry) detectable.
The first run starts from the root.json pinned in the package (/usr/share/heima/update-root.json).
Every refusal is an `UpdateRefused` with a reason code and a sentence saying what to do; nothing
is installed then.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlparse

from tuf.api import exceptions as tuf_errors
from tuf.ngclient import FetcherInterface, Updater

log = logging.getLogger(__name__)

PINNED_ROOT = Path("/usr/share/heima/update-root.json")
STATE_DIR = Path("/var/lib/heima-update")


class Refusal(StrEnum):
    EXPIRED = "expired"  # metadata past its expiry: a freeze attack, or a repository not kept up
    ROLLBACK = "rollback"  # metadata older than what this hub has already seen
    UNSIGNED = "unsigned"  # not signed by enough of the keys the hub trusts
    TAMPERED = "tampered"  # a file whose length or hashes differ from the signed ones
    DOWNGRADE = "downgrade"  # a signed release older than the one installed
    UNREACHABLE = "unreachable"  # the repository could not be read
    NOT_SET_UP = "not-set-up"  # no pinned root: this package was built without update keys
    BAD_RELEASE = "bad-release"  # the channel file is not what a release looks like


class UpdateRefused(Exception):
    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(f"update refused ({reason}): {message}")
        self.reason = reason


@dataclass(frozen=True)
class Release:
    version: str
    target: str  # the .deb's path in the repository


def parse_version(text: str) -> tuple[int, ...]:
    """'0.2.0' → (0, 2, 0). Releases are dotted numbers; anything else is refused, not guessed."""
    if not re.fullmatch(r"\d+(\.\d+){0,3}", text):
        raise ValueError(f"not a release version: {text!r}")
    return tuple(int(part) for part in text.split("."))


class FileFetcher(FetcherInterface):
    """file:// repositories (a USB stick, a test) beside the default http(s) fetcher. A missing
    file is a 404, which is how ngclient learns there is no newer root."""

    def __init__(self, http: FetcherInterface | None = None) -> None:
        self._http = http

    def _fetch(self, url: str) -> Iterator[bytes]:
        parsed = urlparse(url)
        if parsed.scheme != "file":
            if self._http is None:
                from tuf.ngclient import Urllib3Fetcher

                self._http = Urllib3Fetcher()
            return self._http._fetch(url)
        path = Path(unquote(parsed.path))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise tuf_errors.DownloadHTTPError(f"{path.name} not in the repository", 404) from None
        return iter([data])


class UpdateClient:
    """Checks for and downloads a verified release for `arch`. Needs a trusted clock (a Pi checks
    expiry only after NTP has answered: heima-update.service runs after time-sync.target)."""

    def __init__(
        self,
        *,
        repository_url: str,
        arch: str,
        state_dir: Path = STATE_DIR,
        pinned_root: Path = PINNED_ROOT,
        fetcher: FetcherInterface | None = None,
    ) -> None:
        self.repository_url = repository_url.rstrip("/")
        self.arch = arch
        self.metadata_dir = state_dir / "metadata"
        self.download_dir = state_dir / "downloads"
        self.pinned_root = pinned_root
        self.fetcher = fetcher or FileFetcher()
        self._updater: Updater | None = None

    def _trusted_updater(self) -> Updater:
        if self._updater is not None:
            return self._updater
        self.metadata_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.download_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        local_root = self.metadata_dir / "root.json"
        if not local_root.exists():
            # Trust on first use of the root pinned in the package; later roots are reached only
            # through ones signed by it (ngclient's root rotation), and persisted here.
            if not self.pinned_root.exists():
                raise UpdateRefused(
                    Refusal.NOT_SET_UP,
                    f"no trusted root at {self.pinned_root}: build the package with --update-root",
                )
            shutil.copyfile(self.pinned_root, local_root)
        updater = Updater(
            metadata_dir=str(self.metadata_dir),
            metadata_base_url=f"{self.repository_url}/metadata/",
            target_dir=str(self.download_dir),
            target_base_url=f"{self.repository_url}/targets/",
            fetcher=self.fetcher,
            bootstrap=None,  # the persisted root.json: the newest this hub has verified
        )
        with _refusals():
            updater.refresh()
        self._updater = updater
        return updater

    def check(self, installed_version: str) -> Release | None:
        """The verified release newer than `installed_version`, or None when it is current."""
        updater = self._trusted_updater()
        channel = f"channels/{self.arch}.json"
        with _refusals():
            info = updater.get_targetinfo(channel)
            if info is None:
                raise UpdateRefused(Refusal.BAD_RELEASE, f"the repository names no release for {self.arch}")
            path = updater.download_target(info, filepath=str(self.download_dir / f"channel-{self.arch}.json"))
        try:
            data = json.loads(Path(path).read_text())
            release = Release(version=str(data["version"]), target=str(data["target"]))
            offered, installed = parse_version(release.version), parse_version(installed_version)
        except (ValueError, KeyError, TypeError) as exc:
            raise UpdateRefused(Refusal.BAD_RELEASE, f"the release for {self.arch} is malformed ({type(exc).__name__})") from None
        if offered < installed:
            raise UpdateRefused(
                Refusal.DOWNGRADE,
                f"the repository offers {release.version}, older than the installed {installed_version}; "
                "a downgrade is a rollback the centre must publish as a new version",
            )
        return release if offered > installed else None

    def download(self, release: Release) -> Path:
        """The release's .deb, verified against its signed length and hashes."""
        updater = self._trusted_updater()
        with _refusals():
            info = updater.get_targetinfo(release.target)
            if info is None:
                raise UpdateRefused(Refusal.BAD_RELEASE, f"{release.target} is not a signed target")
            return Path(updater.download_target(info, filepath=str(self.download_dir / Path(release.target).name)))


class _refusals:
    """ngclient's errors → UpdateRefused with what to do (context manager)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None or isinstance(exc, UpdateRefused):
            return False
        refusal = _refusal_for(exc)
        if refusal is None:
            return False
        log.warning("update refused: %s (%s)", refusal[0], type(exc).__name__)
        raise UpdateRefused(*refusal) from exc


def _refusal_for(exc: BaseException) -> tuple[Refusal, str] | None:
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return Refusal.EXPIRED, "the repository's metadata has expired; nothing installed (the centre must re-sign it)"
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return Refusal.ROLLBACK, "the repository serves older metadata than this hub has seen; nothing installed"
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return Refusal.UNSIGNED, "metadata not signed by the keys this hub trusts; nothing installed"
    if isinstance(exc, tuf_errors.LengthOrHashMismatchError):
        return Refusal.TAMPERED, "a file differs from its signed length or hashes; nothing installed"
    if isinstance(exc, tuf_errors.DownloadError):
        return Refusal.UNREACHABLE, "the update repository could not be read; try again later"
    if isinstance(exc, tuf_errors.RepositoryError):
        return Refusal.UNSIGNED, f"the repository's metadata is not valid ({type(exc).__name__}); nothing installed"
    return None
