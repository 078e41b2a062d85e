"""What the technician reads agrees with what the hub does: the guide names the touch screen's
technician mode (not "still to come") and its idle time, and the package's comment on /etc/heima
says what the units let the running services write."""

from __future__ import annotations

import re
from pathlib import Path

from ui.models.technician_idle import IDLE_SECONDS

ROOT = Path(__file__).resolve().parents[2]


def test_the_technician_guide_gives_the_idle_time_the_app_uses_and_no_screens_still_to_come():
    guide = (ROOT / "docs" / "technician.md").read_text(encoding="utf-8")
    assert "still to come" not in guide
    said = re.search(r"After \*\*(\d+) minutes without a touch\*\*", guide)
    assert said is not None, "docs/technician.md says when technician mode locks itself"
    assert int(said.group(1)) * 60 == IDLE_SECONDS


def _comment_above(lines: list[str], needle: str) -> str:
    at = next(n for n, line in enumerate(lines) if needle in line and not line.lstrip().startswith("#"))
    comment = []
    for line in reversed(lines[:at]):
        if not line.lstrip().startswith("#"):
            break
        comment.append(line.strip().lstrip("#").strip())
    return " ".join(reversed(comment))


def test_the_postinst_comment_on_etc_heima_says_which_service_may_write_it():
    postinst = (ROOT / "packaging" / "debian" / "postinst").read_text(encoding="utf-8").splitlines()
    comment = _comment_above(postinst, "/etc/heima")
    for unit in ("heima-kiosk.service", "heima.service"):
        writes = "ReadWritePaths=/etc/heima" in (ROOT / "packaging" / "systemd" / unit).read_text(encoding="utf-8")
        assert unit in comment, comment
        said = comment.split(unit, 1)[1][:120]
        assert ("ReadWritePaths=/etc/heima" in said) is writes, f"{unit}: {said!r}"
    assert "the running service sees /etc read-only" not in comment
