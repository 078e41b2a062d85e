"""Identifiers read back as text: a UUID that keeps the text it was read from.

The store keeps every identifier as its canonical text, and the delivery path needs that text
again several times per row (the identifier's URN, the entry's name, the row to mark). A plain
`uuid.UUID(text)` parses the text and `str()` rebuilds it each time; `TextUUID.of(text)` parses it
once and answers `str()` with the text it was given. It is a `uuid.UUID` in every other way: equal
to, and hashed like, the plain UUID of the same value.
"""

from __future__ import annotations

import re
import uuid

_SAFE_UNKNOWN = uuid.SafeUUID.unknown
_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch


class TextUUID(uuid.UUID):
    __slots__ = ("_text",)

    @classmethod
    def of(cls, text: str) -> uuid.UUID:
        """The UUID written as `text`; ValueError when it is not one. Canonical text (lowercase,
        hyphenated: what `str(UUID)` writes and the store holds) is kept as it is; any other
        spelling `uuid.UUID` reads is turned into the canonical one."""
        if _CANONICAL(text) is None:
            text = str(uuid.UUID(text))  # another spelling (or not a UUID: ValueError)
        new = _new(cls)
        _set_safe(new, _SAFE_UNKNOWN)
        _set_text(new, text)
        return new

    # The number is worked out from the (canonical) text the first time it is asked for: a
    # backlog's ids are read, sent and marked by their text, and rarely compared as numbers.
    @property
    def int(self) -> int:  # type: ignore[override]
        try:
            return _get_int(self)
        except AttributeError:
            value = _number(self._text.replace("-", ""), 16)
            _set_int(self, value)
            return value

    @int.setter
    def int(self, value: int) -> None:  # UUID.__setstate__ (unpickling, copying) sets it
        _set_int(self, value)

    def __str__(self) -> str:
        try:
            return self._text
        except AttributeError:  # unpickled or copied: the state carries the value, not the text
            return uuid.UUID.__str__(self)


# The slots set directly: UUID.__setattr__ refuses every assignment (a UUID is immutable).
_new = object.__new__
_get_int = uuid.UUID.__dict__["int"].__get__
_set_int = uuid.UUID.__dict__["int"].__set__
_number = int
_set_safe = uuid.UUID.__dict__["is_safe"].__set__
_set_text = TextUUID.__dict__["_text"].__set__

__all__ = ["TextUUID"]
