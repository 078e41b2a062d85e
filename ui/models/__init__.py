"""The screens' models, one per file: Kivy properties the screens bind to, fed by hub events on
the Kivy Clock (feed.py), asking `hub.api` for what changed. measuring.py is the measuring
screen's state machine, pure (no Kivy); measure.py the thin Kivy model around it. today.py,
history.py, settings.py (the patient's choices), call.py (the video call); loop.py the work on
the shared asyncio loop. Nothing is imported here, so the pure machine loads without Kivy."""
