"""The app's process imports at start only what every hub uses (issue 13, the touch app's
memory): FHIRPath (fhirpathpy, antlr4 and its R4 model, ~8 MB) comes with the first care-plan
rule or form expression, jsonschema (~4 MB) with the first command from a centre. Part M1: a hub
started as the touch app starts it, with no centre to pull from, holds no HTTP client (httpx and
what it brings, ~10 MB), and the screens write dates and numbers without Babel's locale data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAZY = ("fhirpathpy", "antlr4", "jsonschema")


# Not needed by a hub started without a centre, nor by its Today screen (docs/performance.md, part M1).
NOT_AT_START = ("httpx", "babel.dates", "babel.numbers", "babel.core", "sqlite_utils", "click", "pluggy", "dateutil", "sqlite3", "importlib.metadata")
# Part M6: the nurse's video call machine (its states, signalling and shared-value messages) comes
# with a [video] table or the call's own service, not with every hub's configuration and event feed.
NOT_AT_START += ("hub.domain.video",)
# Part M6: the centre's channel (its commands, protocol and settings' checks) only with a centre.
NOT_AT_START += ("hub.app.remote", "sync.remote.port", "sync.remote.protocol", "sync.remote.settings")
# Part M11: the folder destination's FHIR mapper comes with its first batch, TOML with a
# configuration file; `secrets` never (the store's key is made with os.urandom), nor hashlib and
# OpenSSL's digests (hub.domain.digests names bundles and devices).
FIRST_BATCH = ("sync.fhir.bundles", "sync.fhir.observations", "sync.fhir.resources")
NOT_AT_START += (*FIRST_BATCH, "tomllib", "secrets", "hashlib", "_hashlib")


def imported_after(code: str, watched: tuple[str, ...] = LAZY) -> list[str]:
    probe = f"import sys\n{code}\nprint(','.join(m for m in {watched!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    return [m for m in out.stdout.strip().split(",") if m]


MADE_BY_AN_EARLIER_START = """
import subprocess, sys
from pathlib import Path

def made_by_an_earlier_start(folder):
    # The store made and migrated by another process, as every start after the first finds it.
    code = f"from hub.store.schema import connect; connect({str(Path(folder) / 'heima.db')!r}).close()"
    subprocess.run([sys.executable, "-c", code], check=True)
"""

START_THE_HUB = MADE_BY_AN_EARLIER_START + """
import asyncio, tempfile
from datetime import date, datetime
from hub.app import start_hub
from hub.config import HubConfig
from ui.i18n import tr

async def main():
    with tempfile.TemporaryDirectory() as folder:
        made_by_an_earlier_start(folder)
        # deliver=False: the forms are read from the folder before start_hub returns (with
        # delivery the same refresh runs as a task); no centre is configured.
        hub = await start_hub(HubConfig(data_dir=Path(folder)), families=[], deliver=False)
        try:
            await hub.api.forms_available(lang="nb")
        finally:
            await hub.stop()

asyncio.run(main())
for lang in ("nb", "nn", "en"):
    tr.switch(lang)
    assert tr.day(date(2026, 11, 21)) and tr.short_day(date(2026, 11, 21)) and tr.time(datetime(2026, 11, 21, 10, 30))
    assert tr.number(1234.5, 1)
"""


def test_a_hub_without_a_centre_starts_without_an_http_client_and_dates_need_no_babel_data():
    assert imported_after(START_THE_HUB, NOT_AT_START) == []


def test_a_hub_with_a_centre_still_brings_its_http_client_when_it_pulls():
    code = """
import asyncio
from dataclasses import replace
from pathlib import Path
from hub.app.forms import refresh_forms
from hub.config import HubConfig

config = HubConfig(data_dir=Path("unused")).with_centre("http://127.0.0.1:9/fhir")  # nothing listens
config = replace(config, patient=replace(config.patient, identifier="13116900216"))

class NoForms:
    async def import_forms(self, source, forms):
        return None

said = asyncio.run(refresh_forms(NoForms(), config))
assert "could not be reached" in said["centre"], said
"""
    assert imported_after(code, ("httpx",)) == ["httpx"]


def test_the_hub_and_its_facade_start_without_fhirpath_or_jsonschema():
    assert imported_after("import hub.app, hub.api, hub.app.remote, hub.domain.careplan, hub.domain.questionnaire") == []


def test_a_form_expression_and_a_plan_rule_still_work_and_bring_fhirpath_then():
    code = """
from datetime import datetime, UTC
from hub.domain.questionnaire.expressions import compile_expression, evaluate
expr = compile_expression("%value > 2", None, "rule")
assert evaluate(expr, {}, {"value": 3}, datetime(2026, 1, 1, tzinfo=UTC)) == [True]
try:
    compile_expression("%value < < 2", None, "rule")
except Exception as e:
    assert "not valid FHIRPath" in str(e)
else:
    raise AssertionError("a bad expression was accepted")
"""
    assert set(imported_after(code)) == {"fhirpathpy", "antlr4"}


def test_a_centres_command_is_still_checked_against_its_schema():
    code = """
from sync.remote.protocol import reply_is_valid
assert not reply_is_valid({"nonsense": True})
"""
    assert imported_after(code) == ["jsonschema"]


TODAY_SHOWN = MADE_BY_AN_EARLIER_START + """
import asyncio, os, tempfile
from hub.app import start_hub
from hub.config import HubConfig
from ui.app import HeimaApp, drive
from ui.models.loop import next_frame
from ui.speech import RecordingSpeaker

async def main():
    with tempfile.TemporaryDirectory() as folder:
        made_by_an_earlier_start(folder)
        hub = await start_hub(HubConfig(data_dir=Path(folder)), families=[], deliver=False)
        try:
            async def work(app):
                while not app.today_model.loaded:
                    await next_frame(1)
                await next_frame(3)  # drawn with its data
                return app.root.current
            print("shown", await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work))
        finally:
            await hub.stop()

asyncio.run(main())
"""
def touch_app_says(tmp_path, script_text: str) -> list[str]:
    """What a script that shows the touch app's Today (TODAY_SHOWN, changed) printed, line by line;
    it ran to its end and Today was shown."""
    import os

    script = tmp_path / "today.py"  # a file: under `python -c` Kivy's app never starts its loop
    script.write_text(script_text)
    env = dict(os.environ, KIVY_NO_ARGS="1", KIVY_NO_FILELOG="1", KIVY_NO_CONSOLELOG="1", SDL_VIDEODRIVER="offscreen", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert "shown today" in lines, out.stdout
    return lines


# What the app with Today shown does not need: an HTTP client (no centre), Babel's locale data.
NOT_WITH_TODAY = ("httpx", "babel.core", "babel.dates", "babel.numbers", "sqlite_utils", "click", "pluggy", "dateutil", "importlib.metadata")
# Part M4: the screens not shown yet (their modules and kv rules come when first opened), and the
# gallery's scenes, which drive() (tests, benchmarks) no longer loads where run_app never did.
NOT_WITH_TODAY += ("hub.domain.video", "hub.app.remote", "sync.remote.port", "sync.remote.protocol", "getpass")  # part M6
NOT_WITH_TODAY += ("ui.scenes", "ui.screens.history", "ui.screens.settings", "ui.screens.manual", "ui.screens.questionnaire",
                   "ui.screens.questionnaire_list", "ui.screens.questionnaire_review", "ui.screens.questionnaire_done")
NOT_WITH_TODAY += ("ui.screens.enrol",)  # part M7: enrolment's screen when a hub not enrolled shows it
NOT_WITH_TODAY += (*FIRST_BATCH, "tomllib", "secrets", "hashlib", "_hashlib")  # part M11


def test_the_touch_app_with_today_shown_holds_no_http_client_nor_babel_data(tmp_path):
    lines = touch_app_says(tmp_path, f"import sys\n{TODAY_SHOWN}\nprint(','.join(m for m in {NOT_WITH_TODAY!r} if m in sys.modules))")
    assert lines[-1] == "", f"imported before they were needed: {lines[-1]}"


def test_a_store_made_by_an_older_heima_is_migrated_with_sqlite_utils_then():
    code = """
import sqlite3, tempfile
from pathlib import Path
from hub.store.schema import SCHEMA_VERSION, connect, migrate
from hub.store.database import Database
folder = Path(tempfile.mkdtemp())
conn = sqlite3.connect(folder / "old.db", isolation_level=None)
migrate(Database(conn))  # every step from an empty file, as the first start of a new hub
assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'measurements'").fetchone()[0] == 1
"""
    assert imported_after(code, ("sqlite_utils",)) == ["sqlite_utils"]


def test_a_hub_with_video_configured_still_reads_its_video_settings():
    code = """
import tempfile
from pathlib import Path
from hub.config import ConfigError, parse_config
folder = Path(tempfile.mkdtemp())
(folder / "hub.crt").write_text("-----BEGIN CERTIFICATE-----\\n")
centre = {"mqtt": {"host": "mqtt.centre.example", "hub_id": "hub-0042", "client_cert": "hub.crt"}}
video = {"ice_servers": [{"urls": ["turns:turn.centre.example:5349"]}], "ring_seconds": 30}
config = parse_config({"centre": centre, "video": video}, base_dir=folder)
assert config.video.ring_seconds == 30.0 and config.video.ice_servers[0].urls == ("turns:turn.centre.example:5349",)
try:
    parse_config({"centre": centre, "video": {"ring_seconds": 1}}, base_dir=folder)
except ConfigError as e:
    assert "ring_seconds" in str(e)
else:
    raise AssertionError("a ring of 1 s was accepted")
"""
    assert imported_after(code, ("hub.domain.video",)) == ["hub.domain.video"]



def test_a_started_hub_holds_no_parsed_form_until_the_patient_opens_the_forms():
    # Part M6: the forms imported at every start (the embedded ones, or a centre's) are checked,
    # not kept parsed (with their JSON, ~0.4 MB): parsed again, once, from the store's copy when
    # the patient opens the forms — the same forms, titles and order as before.
    code = MADE_BY_AN_EARLIER_START + """
import asyncio, gc, tempfile
from hub.app import start_hub
from hub.config import HubConfig
from hub.domain.questionnaire.model import Questionnaire

def parsed():
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Questionnaire))

async def main():
    with tempfile.TemporaryDirectory() as folder:
        made_by_an_earlier_start(folder)
        hub = await start_hub(HubConfig(data_dir=Path(folder)), families=[], deliver=False)
        try:
            at_start = parsed()
            forms = await hub.api.forms_available(lang="nb")
            print("parsed at start", at_start)
            print("offered", sorted((f.url.rsplit("/", 1)[-1], f.title) for f in forms))
            step = await hub.api.start_form(forms[0].url, lang="nb")
            print("started", step.item is not None)
        finally:
            await hub.stop()

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120).stdout
    assert "parsed at start 0" in out, out
    offered = next(line for line in out.splitlines() if line.startswith("offered"))
    assert offered.count("(") == 3 and "None" not in offered, offered  # the three embedded forms, each titled
    assert "started True" in out, out


def test_the_touch_app_with_its_technician_desk_reads_no_enrolment_profile_code_at_start(tmp_path):
    # Part M6: as run_app starts an enrolled hub (the desk attached: the long press, the PIN, the
    # scan view), enrolment's profile reading (TOML, signatures, the QR code's decoding) is not
    # imported until a profile is read or a camera scan runs.
    code = TODAY_SHOWN.replace(
        "hub = await start_hub(HubConfig(data_dir=Path(folder)), families=[], deliver=False)",
        "hub = await start_hub(HubConfig(data_dir=Path(folder)), families=[], deliver=False)\n"
        "        from hub.app.technician_desk import attach\n"
        "        (Path(folder) / 'heima.toml').write_text('')  # an enrolled hub's configuration\n"
        "        assert attach(hub, Path(folder) / 'heima.toml').enrolled",
    )
    watched = ("hub.services.enrolment", "hub.domain.enrolment", "getpass")  # getpass: the audit's machine user
    lines = touch_app_says(tmp_path, f"import sys\n{code}\nprint(','.join(m for m in {watched!r} if m in sys.modules))")
    assert lines[-1] == "", f"imported before they were needed: {lines[-1]}"


def test_a_camera_scan_still_tells_a_heima_code_from_another_and_brings_enrolment_then():
    code = """
from hub.services.qr_scan import DAMAGED_CODE, OTHER_CODE, profile_text
assert profile_text(["https://example.org"]) == (None, OTHER_CODE)
assert profile_text(["HEIMA1:not-base45"]) == (None, DAMAGED_CODE)  # a Heima code read in part
"""
    assert imported_after(code, ("hub.domain.enrolment",)) == ["hub.domain.enrolment"]


def test_the_settings_a_centre_changed_are_still_laid_over_the_configuration_at_start():
    code = MADE_BY_AN_EARLIER_START + """
import asyncio, json, tempfile
from hub.app import start_hub
from hub.config import HubConfig

async def main():
    with tempfile.TemporaryDirectory() as folder:
        made_by_an_earlier_start(folder)
        kept = {"hub.timezone": "America/New_York", "oximetry.chunk_minutes": "many"}  # the second no longer fits
        (Path(folder) / "centre-settings.json").write_text(json.dumps(kept))
        hub = await start_hub(HubConfig(data_dir=Path(folder)), families=[], deliver=False)
        try:
            print("zone", hub.config.timezone, hub.config.oximetry.chunk_minutes == HubConfig(data_dir=Path(folder)).oximetry.chunk_minutes)
        finally:
            await hub.stop()

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    assert "zone America/New_York True" in out.stdout, out.stdout + out.stderr[-2000:]
    assert "no longer fits" in out.stderr  # said, without its value
    assert "many" not in out.stderr



def test_the_touch_apps_runner_loads_neither_the_demos_script_nor_the_gallerys_values():
    # Part M6: run_app's module; the demo and the gallery import them when they run.
    assert imported_after("import hub.app.runners", ("hub.demo", "hub.examples")) == []
    assert imported_after("from hub.app.runners import demo_config\nfrom hub.config import HubConfig\nfrom pathlib import Path\n"
                          "assert demo_config(HubConfig(data_dir=Path('x'))).patient.identifier", ("hub.demo",)) == ["hub.demo"]


def test_an_enrolled_touch_apps_technician_desk_is_made_when_technician_mode_is_first_entered(tmp_path):
    # Part M7: as run_app starts an enrolled hub, only whether it is enrolled is asked at start;
    # the desk — its service, the PIN guard, the return's walk (bz2, lzma, shutil) — is made and
    # imported at the PIN door's first use, and works then (the PIN asked of it: none set here).
    start = "hub = await start_hub(HubConfig(data_dir=Path(folder)), families=[], deliver=False)"
    code = TODAY_SHOWN.replace(
        start,
        start + "\n"
        "        from hub.app.technician_door import attach_on_first_use\n"
        "        (Path(folder) / 'heima.toml').write_text('')  # an enrolled hub's configuration\n"
        "        assert attach_on_first_use(hub, Path(folder) / 'heima.toml').enrolled",
    ).replace(
        "                return app.root.current\n",
        "                shown = app.root.current\n"
        "                print('at start', ','.join(m for m in WATCHED if m in sys.modules))\n"
        "                app.open_technician_door()\n"
        "                for key in '4711':\n"
        "                    app.technician.key(key)\n"
        "                app.technician.submit_pin()\n"
        "                await app.technician.idle()\n"
        "                print('entered', type(hub.api.technician).__name__, app.technician.pin_message != '', app.root.current)\n"
        "                print('then', ','.join(m for m in WATCHED if m in sys.modules))\n"
        "                return shown\n",
    )
    watched = ("hub.services.technician_desk", "hub.services.technician", "hub.services.returning", "hub.domain.pin")
    lines = touch_app_says(tmp_path, f"import sys\nWATCHED = {watched!r}\n{code}")
    assert "at start " in lines, f"imported before technician mode was entered: {lines}"
    assert "entered TechnicianDesk True technician-pin" in lines, lines
    assert f"then {','.join(watched)}" in lines, lines


# Part M10: the questionnaire engine (its model, parser, expressions, state, scoring, submission:
# ~1.1 MB of Python objects) and the forms' service views and screen model.
ENGINE = ("hub.domain.questionnaire", "hub.services.questionnaires_views", "ui.models.questionnaire")


def test_the_touch_app_imports_the_questionnaire_engine_when_the_forms_are_opened_not_with_today(tmp_path):
    # As every start after the first finds it: the store made, the embedded forms kept by an
    # earlier start. Today is shown without the engine; the forms list, opened, lists the three
    # embedded forms (titled) and brings it then; a form opened shows its first question.
    earlier = tmp_path / "earlier.py"
    earlier.write_text(
        "import asyncio, sys\nfrom pathlib import Path\nfrom hub.app import start_hub\nfrom hub.config import HubConfig\n"
        "async def main():\n"
        "    hub = await start_hub(HubConfig(data_dir=Path(sys.argv[1])), families=[], deliver=False)\n"
        "    await hub.stop()\n"
        "asyncio.run(main())\n"
    )
    folder = tmp_path / "hub"
    folder.mkdir()
    subprocess.run([sys.executable, str(earlier), str(folder)], cwd=ROOT, check=True, timeout=120, capture_output=True)
    code = TODAY_SHOWN.replace(
        "    with tempfile.TemporaryDirectory() as folder:\n        made_by_an_earlier_start(folder)\n",
        f"    if True:\n        folder = {str(folder)!r}\n",
    ).replace(
        "                return app.root.current\n",
        "                shown = app.root.current\n"
        "                print('with today', ','.join(m for m in WATCHED if m in sys.modules))\n"
        "                app.open_forms()\n"
        "                await app.form_model.idle()\n"
        "                await next_frame(2)\n"
        "                print('forms', app.root.current, sorted(f['title'] for f in app.form_model.forms))\n"
        "                print('then', ','.join(m for m in WATCHED if m in sys.modules))\n"
        "                app.open_form(app.form_model.forms[0]['url'])\n"
        "                await app.form_model.idle()\n"
        "                await next_frame(2)\n"
        "                print('form', app.root.current, app.form_model.step.item is not None)\n"
        "                return shown\n",
    )
    assert code.count("WATCHED") == 2 and "folder = " in code, "the Today script changed: adjust the replacements"
    lines = touch_app_says(tmp_path, f"import sys\nWATCHED = {ENGINE!r}\n{code}")
    assert "with today " in lines, f"imported before the forms were opened: {lines}"
    forms = next(line for line in lines if line.startswith("forms "))
    assert forms.startswith("forms forms [") and forms.count("'") == 6, forms  # three titled forms
    assert f"then {','.join(ENGINE)}" in lines, lines
    assert "form form-question True" in lines, lines



def test_the_delivery_path_and_the_store_bring_the_engine_only_with_a_forms_payload():
    # A submission's row read back (the outbox drains it) and mapped to FHIR: the engine's own
    # types then, imported on first use; measurements alone never import it.
    code = """
import json, uuid
from datetime import datetime, UTC
from decimal import Decimal
import hub.app, hub.api, hub.services.questionnaires, sync.fhir.resources
from hub.store.rows import outgoing_from_payload, payload_to_json
print("before", "hub.domain.questionnaire" in sys.modules)
score = {"id": str(uuid.uuid4()), "response_id": str(uuid.uuid4()), "questionnaire": "https://x.example/q|1.0",
         "authored": datetime(2026, 1, 2, tzinfo=UTC).isoformat(), "value": "7", "link_id": "sum",
         "code": [["74465-6", "http://loinc.org", None]], "text": "Sum"}
item = outgoing_from_payload(score["id"], "score", json.dumps(score))
print("read", type(item.payload).__name__, item.payload.value == Decimal(7), json.loads(payload_to_json(item)) == score)
print("after", "hub.domain.questionnaire" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", "import sys\n" + code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.splitlines() == ["before False", "read ScoreResult True True", "after True"], out


def test_a_hub_delivering_to_its_folder_brings_the_fhir_mapper_with_its_first_batch(tmp_path):
    """The embedded default destination (a folder of FHIR bundles) after a start without the
    mapper: a value typed in is written as a transaction bundle naming it, once — its file and
    its device named without loading OpenSSL's digests (hub.domain.digests)."""
    code = MADE_BY_AN_EARLIER_START + f"""
import asyncio, json, sys
from pathlib import Path
from hub.app import start_hub
from hub.api import MeasurementKind
from hub.config import HubConfig

async def main():
    made_by_an_earlier_start({str(tmp_path)!r})  # not migrated here: sqlite_utils would bring hashlib
    hub = await start_hub(HubConfig(data_dir=Path({str(tmp_path)!r})), families=[], deliver=False)
    try:
        print("before", "sync.fhir.bundles" in sys.modules)
        await hub.api.record_manual(MeasurementKind.BODY_WEIGHT, 71.5, "kg")
        await hub.deliver_now()
        await hub.deliver_now()  # nothing left: no second file
        print("after", "sync.fhir.bundles" in sys.modules, "_hashlib" in sys.modules)
    finally:
        await hub.stop()

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["before", "False", "after", "True", "False"]  # no OpenSSL digests either
    files = list(tmp_path.rglob("*.json"))
    bundles = [json.loads(f.read_text()) for f in files if json.loads(f.read_text()).get("resourceType") == "Bundle"]
    assert len(bundles) == 1
    values = [e["resource"]["valueQuantity"]["value"] for e in bundles[0]["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert values == [71.5]


# Part M11: kv rules Kivy holds (~30 bytes of objects per byte of kv) for what Today does not show.
RULES_WHEN_MADE = ("enrol_scan.kv", "passkey.kv", "reminders.kv", "technician.kv", "technician_pairing.kv")


def test_the_rules_of_dialogs_and_technician_screens_are_loaded_when_first_made_not_with_today(tmp_path):
    shown = """from kivy.lang import Builder
                rules = {os.path.basename(f) for f in Builder.files}
                print("rules", ",".join(sorted(rules)))
                app.root.current = "enrol"  # a hub not enrolled: enrol.kv's number pad is technician.kv's
                await next_frame(2)
                print("enrol pad", sum(type(w).__name__ == "TechPad" for w in app.root.current_screen.walk()))
                print("passkey slots", len(app.passkey.slots()))
                app.root.current = "today"
                await next_frame(2)
                return app.root.current"""
    lines = touch_app_says(tmp_path, TODAY_SHOWN.replace("return app.root.current", shown))
    rules = next(line for line in lines if line.startswith("rules ")).split(" ", 1)[1].split(",")
    assert {"widgets.kv", "today.kv"} <= set(rules) and not set(RULES_WHEN_MADE) & set(rules), rules
    assert "enrol pad 1" in lines and "passkey slots 6" in lines
