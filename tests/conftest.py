"""Test-wide set-up. Kivy's variables must exist before anything imports kivy."""

import os
import tempfile

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="heima-kivy-"))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")
from tests.servers.fhir_server import fhir_server  # noqa: E402,F401  (the reference FHIR server fixture)
