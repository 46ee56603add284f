"""Errors raised by the FA(3) builder and validator."""
from typing import Iterable, Optional


class Fa3Finding(str):
    """One readable problem, e.g. ``Fa/FaWiersz[2]/P_12 (line 57): ...``.

    It is a ``str`` (so callers can join or translate-wrap it) that also
    exposes ``path`` (element path without namespaces, may be empty),
    ``line`` (source line of the XML, or ``None`` for data-model findings)
    and ``message``.
    """

    path: str
    line: Optional[int]
    message: str

    def __new__(cls, path: str, message: str, line: Optional[int] = None):
        where = path or "Faktura"
        if line:
            where = "%s (line %d)" % (where, line)
        finding = super().__new__(cls, "%s: %s" % (where, message))
        finding.path = path
        finding.line = line
        finding.message = message
        return finding


class Fa3ValidationError(ValueError):
    """The invoice cannot be sent: ``errors`` lists every finding
    (``Fa3Finding``, readable strings naming the field)."""

    def __init__(self, errors: Iterable[Fa3Finding]):
        self.errors = list(errors)
        shown = "; ".join(self.errors[:5])
        more = len(self.errors) - 5
        if more > 0:
            shown += "; ... and %d more" % more
        super().__init__("FA(3) invoice is not valid: %s" % shown)
