"""Translations and Norwegian numbers and dates (ui/formats.py).

Source strings (msgids) are English; catalogs for nb (default), nn and en live under
ui/locale/<lang>/LC_MESSAGES/heima.po. The .mo files are not committed: they are compiled from the
.po files when missing or older (here on first import, with babel; `scripts/setup.sh` does the
same with `pybabel compile`), next to the .po when the folder is writable, else in a cache folder.

In .kv files write `tr._("Measure")`: `tr` is an Observable, so every such text is evaluated again
when the language changes at runtime. Placeholders are named, str.format style: `tr.f("{n} of
{total}", n=3, total=40)`; a translation with wrong placeholders falls back to the English text
instead of crashing a screen.
"""

from __future__ import annotations

import gettext
import logging
import os
from datetime import date, datetime
from pathlib import Path

from kivy.lang import Observable

from ui import formats

log = logging.getLogger(__name__)

DOMAIN = "heima"
LANGUAGES = ("nb", "nn", "en")
DEFAULT_LANGUAGE = "nb"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGE_NAMES = {"nb": "Bokmål", "nn": "Nynorsk", "en": "English"}  # each in its own language


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "heima" / "locale"


def compile_catalogs(source: Path = LOCALE_DIR, *, force: bool = False) -> Path:
    """Compile every .po under `source` into .mo files; returns the folder holding them."""
    target = source if os.access(source, os.W_OK) else _cache_dir()
    for lang in LANGUAGES:
        po = source / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        mo = target / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if not po.exists():
            continue
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        from babel.messages.mofile import write_mo  # only when a catalog is compiled: Babel's memory
        from babel.messages.pofile import read_po

        mo.parent.mkdir(parents=True, exist_ok=True)
        with open(po, "rb") as f:
            catalog = read_po(f, locale=lang)
        tmp = mo.with_suffix(".mo.tmp")
        with open(tmp, "wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)
    return target


class Translator(Observable):
    """`tr._(msgid)` in the current language; kv rules that use it follow language changes."""

    def __init__(self, lang: str = DEFAULT_LANGUAGE) -> None:
        super().__init__()
        self._observers: list[tuple] = []
        self.lang = ""
        self._catalogs: dict[str, gettext.NullTranslations] = {}
        self._folder: Path | None = None
        self._current: gettext.NullTranslations = gettext.NullTranslations()
        self.switch(lang)

    # Observable protocol for kv: `tr._(...)` binds to the pseudo-property "_".
    def fbind(self, name, func, *args, **kwargs):  # type: ignore[override]
        if name in ("_", "f", "n"):
            self._observers.append((func, args, kwargs))
            return 0
        return super().fbind(name, func, *args, **kwargs)

    def funbind(self, name, func, *args, **kwargs):  # type: ignore[override]
        if name in ("_", "f", "n"):
            self._observers = [e for e in self._observers if not (e[0] is func and len(e[1]) == len(args) and all(a is b for a, b in zip(e[1], args)))]
            return None
        return super().funbind(name, func, *args, **kwargs)

    def _catalog(self, lang: str) -> gettext.NullTranslations:
        if lang not in self._catalogs:
            if self._folder is None:
                self._folder = compile_catalogs()
            cat = gettext.translation(DOMAIN, str(self._folder), languages=[lang], fallback=True)
            if lang == "nn":  # a string nynorsk lacks is better read in bokmål than in English
                cat.add_fallback(gettext.translation(DOMAIN, str(self._folder), languages=["nb"], fallback=True))
            self._catalogs[lang] = cat
        return self._catalogs[lang]

    def switch(self, lang: str) -> None:
        if lang not in LANGUAGES:
            lang = DEFAULT_LANGUAGE
        if lang == self.lang:
            return
        self._current = self._catalog(lang)
        self.lang = lang
        alive = []
        for entry in self._observers:
            func, largs, _kwargs = entry
            try:
                func(*largs, None, None)
            except ReferenceError:  # a widget that is gone (a rebuilt list row): forget it
                continue
            alive.append(entry)
        self._observers = alive

    def _(self, msgid: str) -> str:
        return self._current.gettext(msgid)

    def n(self, singular: str, plural: str, count: int, **kw: object) -> str:
        text = self._current.ngettext(singular, plural, count)
        return self._format(text, singular if count == 1 else plural, dict(kw, count=count))

    def f(self, msgid: str, **kw: object) -> str:
        """The translation with named placeholders filled; wrong placeholders fall back to English."""
        return self._format(self._(msgid), msgid, kw)

    @staticmethod
    def _format(text: str, msgid: str, kw: dict) -> str:
        try:
            return text.format(**kw)
        except (KeyError, IndexError, ValueError):
            log.warning("a translation of %r has wrong placeholders; showing the English text", msgid)
            try:
                return msgid.format(**kw)
            except (KeyError, IndexError, ValueError):
                return msgid

    # --- numbers, dates and times the Norwegian way ("37,5 °C", "lørdag 21. november", "10.30") -

    @property
    def locale(self) -> str:
        return "en_GB" if self.lang == "en" else self.lang  # British English: 21 November, not November 21

    # Written from CLDR's names in ui/formats.py, not with Babel: its locale data is 3.7 MB of the
    # touch app's memory (docs/performance.md, part M1); a test holds them to Babel's output.
    def number(self, value: float, decimals: int = 0) -> str:
        return formats.number(value, decimals, self.lang)

    def day(self, d: date) -> str:
        """"lørdag 21. november 2026"; British style, without CLDR's comma: "Saturday 21 November 2026"."""
        return formats.day(d, self.lang)

    def short_day(self, d: date) -> str:
        return formats.short_day(d, self.lang)

    def time(self, t: datetime) -> str:
        """Norwegian times with a full stop, as Språkrådet writes them ("10.30"); English "10:30"."""
        return formats.clock(t, self.lang)


tr = Translator()


def _(msgid: str) -> str:
    """Marks a string for extraction and translates it now (for module-level tables use N_)."""
    return tr._(msgid)


def N_(msgid: str) -> str:
    """Marks a string for extraction without translating it (translated where it is shown)."""
    return msgid
