"""The update run end to end against a real TUF repository, on a simulated Pi: dpkg and systemd
cannot run here, so `SimulatedPi` stands in for them (what it answers is what `systemctl show`
and `heima --version` answer on a Pi; docs/packaging.md lists what only a real Pi confirms).
The clock is injected: waiting between health samples advances it, nothing sleeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.platform.update_command import Updater
from hub.platform.update_health import HealthPolicy, HealthSample, Phase
from hub.platform.updates import Refusal, UpdateClient, UpdateRefused
from tests.packaging.tuf_repo import Repository

ARCH = "arm64"
POLICY = HealthPolicy(settle=60, deadline=300, max_restarts=0, max_attempts=2)


def deb(version: str) -> bytes:
    return f"heima {version} for {ARCH}".encode()


class SimulatedPi:
    """Installs 'packages' (their bytes name the version); a version in `broken` crash-loops."""

    def __init__(self, installed: str, *, broken: frozenset[str] = frozenset()) -> None:
        self.version = installed
        self.broken = broken
        self.installs: list[str] = []
        self.now = 0.0

    def installed_version(self) -> str:
        return self.version

    def install(self, package: Path) -> None:
        self.version = package.read_bytes().decode().split()[1]
        self.installs.append(self.version)

    def restart(self) -> None:
        pass

    def sample(self, elapsed: float) -> HealthSample:
        crashing = self.version in self.broken
        return HealthSample(elapsed=elapsed, active=not crashing, restarts=int(elapsed // 20) if crashing else 0, version=self.version)

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    repository = Repository(tmp_path / "repo")
    repository.release(ARCH, "0.1.0", deb("0.1.0"))  # the installed version's package: the way back
    repository.release(ARCH, "0.2.0", deb("0.2.0"))
    repository.publish()
    return repository


def updater(repo: Repository, pi: SimulatedPi, state: Path) -> Updater:
    client = UpdateClient(repository_url=repo.url(), arch=ARCH, state_dir=state, pinned_root=repo.root_json)
    return Updater(client, pi, state_dir=state, policy=POLICY, interval=10, clock=pi.clock, wait=pi.wait)


def plan(state: Path) -> dict:
    return json.loads((state / "plan.json").read_text())


def test_a_healthy_update_stays(repo: Repository, tmp_path: Path) -> None:
    pi = SimulatedPi("0.1.0")
    outcome = updater(repo, pi, tmp_path / "state").run()
    assert pi.version == "0.2.0" and pi.installs == ["0.2.0"]
    assert outcome.startswith("updated to 0.2.0")
    assert plan(tmp_path / "state")["phase"] == Phase.DONE
    assert updater(repo, pi, tmp_path / "state").run() == "0.2.0 is current"


def test_an_update_that_crash_loops_is_rolled_back_to_the_verified_previous_package(repo: Repository, tmp_path: Path) -> None:
    pi = SimulatedPi("0.1.0", broken=frozenset({"0.2.0"}))
    outcome = updater(repo, pi, tmp_path / "state").run()
    assert pi.installs == ["0.2.0", "0.1.0"] and pi.version == "0.1.0"
    assert outcome.startswith("rolled back to 0.1.0") and "restarted" in outcome
    assert plan(tmp_path / "state")["phase"] == Phase.ROLLED_BACK


def test_an_update_cut_short_during_install_is_finished_after_boot(repo: Repository, tmp_path: Path) -> None:
    state = tmp_path / "state"
    pi = SimulatedPi("0.1.0")

    class PowerCut(Exception):
        pass

    def cut(package: Path) -> None:
        raise PowerCut

    pi.install = cut  # type: ignore[method-assign]
    with pytest.raises(PowerCut):
        updater(repo, pi, state).run()
    assert plan(state)["phase"] == Phase.INSTALLING
    del pi.install  # power back: the real dpkg again
    assert updater(repo, pi, state).run().startswith("updated to 0.2.0")
    assert pi.version == "0.2.0"


def test_no_update_without_a_verified_way_back(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    repository.release(ARCH, "0.2.0", deb("0.2.0"))  # 0.1.0's package is not in the repository
    repository.publish()
    pi = SimulatedPi("0.1.0")
    with pytest.raises(UpdateRefused) as caught:
        updater(repository, pi, tmp_path / "state").run()
    assert caught.value.reason == Refusal.BAD_RELEASE
    assert pi.installs == []


def test_a_refused_update_installs_nothing(repo: Repository, tmp_path: Path) -> None:
    from datetime import timedelta

    repo.publish(expires_in=-timedelta(minutes=5))
    pi = SimulatedPi("0.1.0")
    with pytest.raises(UpdateRefused) as caught:
        updater(repo, pi, tmp_path / "state").run()
    assert caught.value.reason == Refusal.EXPIRED
    assert pi.installs == [] and not (tmp_path / "state" / "plan.json").exists()
