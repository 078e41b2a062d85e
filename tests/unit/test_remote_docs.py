"""docs/centre-protocol.md stays true: its schemas, reason codes, commands, allow-list and ACL
are the code's."""

from __future__ import annotations

from pathlib import Path

from sync.remote.protocol import Reason
from sync.remote.schemas import COMMAND_NAMES, EVENTS, as_markdown
from sync.remote.settings import ALLOWED_SETTINGS
from tests.servers.mosquitto import ACL, CENTRE

PAGE = (Path(__file__).parents[2] / "docs" / "centre-protocol.md").read_text()


def test_the_pages_schemas_are_the_codes() -> None:
    assert PAGE.endswith(as_markdown() + "\n") or as_markdown() in PAGE


def test_every_reason_command_event_and_allowed_setting_is_documented() -> None:
    for reason in Reason:
        assert f"| `{reason.value}` |" in PAGE, reason
    for name in COMMAND_NAMES:
        assert f"| `{name}` |" in PAGE, name
    for name in EVENTS:
        assert f"| `{name}` |" in PAGE, name
    for name in ALLOWED_SETTINGS:
        assert f"| `{name}` |" in PAGE, name


def test_the_acl_the_tests_run_is_the_one_the_page_gives() -> None:
    assert ACL.format(root="heima", centre=CENTRE) in PAGE
