"""Parsing of KSeF timestamps into timezone-aware UTC datetimes."""
import datetime
import re

_FRACTION_RE = re.compile(r"\.(\d+)")


def parse_datetime(value):
    """Parse an ISO-8601 KSeF timestamp (up to 7 fractional digits, ``Z`` or offset) to aware UTC.

    Returns ``None`` for ``None``/empty.  A value without offset is taken as UTC.
    """
    if not value:
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value).strip().replace("Z", "+00:00").replace("z", "+00:00")
        # Python's fromisoformat accepts at most 6 fractional digits; KSeF sends 7.
        text = _FRACTION_RE.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
        moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def format_datetime(moment):
    """Format an aware datetime as ISO-8601 UTC with ``Z`` (naive means UTC), losslessly:
    milliseconds, or microseconds when they are not whole milliseconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    timespec = "microseconds" if moment.microsecond % 1000 else "milliseconds"
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_from_timestamp(seconds):
    """Aware UTC datetime from Unix seconds."""
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


def warsaw_midnight(day):
    """``YYYY-MM-DD`` (a Polish calendar day such as ``issueDate``) as the ISO date-time of its midnight
    in Europe/Warsaw with an explicit offset (KSeF date ranges need ``Z`` or an offset since API 2.9.0)."""
    date = datetime.date.fromisoformat(str(day)[:10])
    # EU summer time: from the last Sunday of March to the last Sunday of October (01:00 UTC).
    def last_sunday(month):
        last = datetime.date(date.year, month + 1, 1) - datetime.timedelta(days=1)
        return last - datetime.timedelta(days=(last.weekday() + 1) % 7)
    offset = 2 if last_sunday(3) < date <= last_sunday(10) else 1
    return "%sT00:00:00+%02d:00" % (date.isoformat(), offset)
