"""The patient's touch app (Kivy), talking to `hub.api` only.

    app.py          HeimaApp on the hub's asyncio loop; `drive()` runs it for tests and tools
    theme.py        colours (text pairs ≥ 7:1), sizes as unit strings, the font
    i18n.py         gettext catalogs (locale/), runtime language switch, numbers/dates (formats.py)
    kinds.py        per device family: guide, names, units, quality messages
    models/         one model per screen (Kivy properties fed by hub events on the Clock; what
                    screens bind to), the feed, and measuring.py: the measuring screen's pure
                    state machine (no Kivy)
    screens/        one .py + one .kv per screen: today, measure, manual, history, settings
    passkey.py      the pairing dialog (hub.api.PasskeyPrompt)
    speech.py       read-aloud: espeak-ng adapter, visible voice fallback
    pictograms.py   guide pictures drawn with Kivy graphics
    chart.py        history charts, drawn with plain canvas instructions
    scenes.py       every screen state by name (gallery, audit)
    audit.py        the accessibility audit
    gallery.py      PNGs of every screen × language × text size (`heima gallery`)
"""
