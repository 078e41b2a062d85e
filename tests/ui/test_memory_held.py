"""What the touch app holds for things not on screen (issue 13, the app's memory; part M5 in
docs/performance.md)."""

from __future__ import annotations


def test_a_dialog_does_not_load_kivys_theme_atlas():
    """The passkey dialog and the reminder banner are made at start and drawn by our own rule;
    ModalView's default picture made each of them load Kivy's whole theme atlas (a 512×512
    texture, ~90 regions) before our rule emptied it, held for the app's life."""
    from kivy.cache import Cache

    from ui.passkey import PasskeyDialog
    from ui.widgets import Dialog

    Cache.remove("kv.atlas")  # what an earlier test in this process may have loaded
    dialogs = [Dialog(), PasskeyDialog()]
    assert Cache.get("kv.atlas", "data/images/defaulttheme") is None
    assert all(d.background == "" for d in dialogs)
