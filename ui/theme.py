"""Colours, sizes and fonts of the touch app, in one place.

Every size is a unit string ('24sp', '56dp', '16mm') so that `Metrics.fontscale` (the patient's
text size) and the screen's density act on it; `sp(24)` would be frozen at import. Every text
colour is chosen against the background it sits on with a contrast of at least 7:1 (WCAG AAA);
`contrast()` is the check the accessibility audit uses too.
"""

from __future__ import annotations

from pathlib import Path

# --- colours (hex); text pairs are at least 7:1 --------------------------------------------

BACKGROUND = "#FBF8F1"  # warm off-white: less glare than pure white for tired eyes
SURFACE = "#FFFFFF"  # cards
INK = "#161616"  # body text
INK_MUTED = "#3B3B3B"  # secondary text, still 10:1
PRIMARY = "#0A4A85"  # primary buttons (white text on it)
ON_PRIMARY = "#FFFFFF"
SECONDARY = "#DCE4EE"  # secondary buttons (ink on it)
ON_SECONDARY = INK
SELECTED = "#16365C"  # a chosen option (white text on it)
OK = "#17561B"  # "sent ✓", done
WAIT = "#6B3A00"  # waiting to send
FAIL = "#8A1010"  # only where the patient must act: measure again, check the number
BORDER = "#5A5A5A"
ACCENT = "#C8DAF0"  # pictogram fills (not text)
# The self-care plan's zones: always with their name in words (never colour alone); text on them 7:1.
ZONE_GREEN = "#17561B"  # white text
ZONE_YELLOW = "#F2C94C"  # ink text
ZONE_RED = "#8A1010"  # white text
ZONE_BANDS = {"green": "#E2F0DE", "yellow": "#FBEFC4", "red": "#F7DADA"}  # behind a chart (ink 7:1 on each)
SKIN = "#F0C8A0"

TEXT_PAIRS = {
    "body": (INK, BACKGROUND),
    "muted": (INK_MUTED, BACKGROUND),
    "card": (INK, SURFACE),
    "card-muted": (INK_MUTED, SURFACE),
    "primary": (ON_PRIMARY, PRIMARY),
    "secondary": (ON_SECONDARY, SECONDARY),
    "selected": (ON_PRIMARY, SELECTED),
    "ok": (OK, SURFACE),
    "ok-bg": (OK, BACKGROUND),
    "wait": (WAIT, SURFACE),
    "wait-bg": (WAIT, BACKGROUND),
    "fail": (FAIL, SURFACE),
    "fail-bg": (FAIL, BACKGROUND),
    "zone-green": (ON_PRIMARY, ZONE_GREEN),
    "zone-yellow": (INK, ZONE_YELLOW),
    "zone-red": (ON_PRIMARY, ZONE_RED),
}
MIN_CONTRAST = 7.0


def rgba(hex_colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)


def luminance(colour: str | tuple[float, ...]) -> float:
    r, g, b = (rgba(colour) if isinstance(colour, str) else colour)[:3]

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: str | tuple[float, ...], bg: str | tuple[float, ...]) -> float:
    """WCAG 2 contrast ratio, 1..21."""
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


# --- sizes (unit strings) -------------------------------------------------------------------

TEXT_SIZES = {"normal": 1.0, "large": 1.25, "larger": 1.5}  # Metrics.fontscale per setting

FONT_BODY = "24sp"  # instructions, lists
FONT_SMALL = "20sp"  # the smallest text anywhere (axis labels, notes)
FONT_BUTTON = "26sp"
FONT_TITLE = "34sp"
FONT_VALUE = "72sp"  # a result, as large as a sticky note
FONT_LIVE = "56sp"
FONT_SLOT = "48sp"  # a typed digit in its box (a passkey's six fit beside the number pad)

MIN_BODY_SP = 20  # audit: no text below this
MIN_TOUCH_DP = 48  # audit: every target at least this in both directions
MIN_PRIMARY_MM = 16  # audit: primary actions at least this in both directions

TOUCH = "64dp"  # the smallest button we make (> 48 dp)
PRIMARY_HEIGHT = "18mm"  # primary action height (> 16 mm at any density)
PRIMARY_WIDTH = "60mm"
PADDING = "24dp"
SPACING = "16dp"
RADIUS = "14dp"
PICTOGRAM = "220dp"  # a guide's picture: as large as its column allows, up to this
PICTOGRAM_SMALL = "140dp"  # beside a request to measure again

# --- fonts ------------------------------------------------------------------------------------

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FONT_NAME = "HeimaSans"


def register_fonts() -> str:
    """DejaVu Sans (wide, open letter shapes, has ✓ and nynorsk letters) when the system has it
    (Debian: fonts-dejavu-core); else Kivy's Roboto. Returns the font name to use."""
    from kivy.core.text import LabelBase

    regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
    if regular.exists():
        LabelBase.register(FONT_NAME, str(regular), fn_bold=str(bold) if bold.exists() else None)
        return FONT_NAME
    return "Roboto"


HAS_CHECK_GLYPH = (_DEJAVU / "DejaVuSans.ttf").exists()
CHECK = "✓" if HAS_CHECK_GLYPH else "OK"
FONT = FONT_NAME if HAS_CHECK_GLYPH else "Roboto"  # registered by ui.widgets before any kv loads


def pressed(colour) -> tuple[float, float, float, float]:
    """A button's colour while a finger is on it: a little darker."""
    r, g, b = list(colour)[:3]
    return (r * 0.8, g * 0.8, b * 0.8, 1.0)
