"""Injectable clock: real UTC time plus an offset set by ``POST /admin/clock``.

Tests move the emulator into the future (e.g. +12 h to age sessions) without
waiting. The offset is persisted, so it survives a restart.
"""
import datetime
import time

UTC = datetime.timezone.utc


class Clock:
    def __init__(self, store):
        self._store = store
        self.offset = float(store.get_json("clock", "offsetSeconds", 0.0))

    def set_offset(self, seconds):
        self.offset = float(seconds)
        self._store.put_json("clock", "offsetSeconds", self.offset)

    def time(self):
        """Emulated Unix time in seconds."""
        return time.time() + self.offset

    def now(self):
        """Emulated aware UTC datetime."""
        return datetime.datetime.fromtimestamp(self.time(), UTC)


def iso(moment):
    """KSeF style timestamp: ``2025-07-11T12:23:56.0154302+00:00`` (7 fractional digits)."""
    if isinstance(moment, (int, float)):
        moment = datetime.datetime.fromtimestamp(moment, UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d0+00:00" % moment.microsecond


def parse_iso(text):
    """Parse the timestamps this module writes (and any ISO 8601 with offset) to aware UTC."""
    text = text.strip().replace("Z", "+00:00")
    if "." in text:
        head, tail = text.split(".", 1)
        digits = ""
        rest = ""
        for index, char in enumerate(tail):
            if not char.isdigit():
                rest = tail[index:]
                break
            digits += char
        text = "%s.%s%s" % (head, (digits + "000000")[:6], rest)
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
