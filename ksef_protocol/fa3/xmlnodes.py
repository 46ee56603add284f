"""A tiny node-template layer: describe XML as nested tuples, render with lxml.

A template node is ``(tag, content)`` or ``(tag, content, attributes)`` where ``content`` is a string (text),
``None`` (node dropped) or a list of child nodes (``None`` children dropped).
A container whose children were all dropped is dropped too, so optional
blocks need no ``if`` around them.  Values are formatted here, once, so the
output is deterministic.
"""
import re
from datetime import date, datetime, timezone
from decimal import Decimal, ROUND_HALF_UP
from typing import Any, List, Optional, Tuple

from lxml import etree

# Characters KSeF rejects or discourages (XML 1.0 invalid C0, DEL, C1 except
# NEL, Unicode non-characters); removed from every text value.
_BAD_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufdd0-\ufdef\ufffe\uffff]")
_SPACES = re.compile(r"\s+")

Node = Tuple[str, Any]


def clean_text(value: str) -> str:
    """Remove characters KSeF refuses (DEL, C1 controls, non-characters)."""
    return _BAD_CHARS.sub("", value)


def token(value: Optional[str]) -> Optional[str]:
    """Text for an ``xsd:token`` field: cleaned, whitespace collapsed,
    ``None`` when nothing is left."""
    if value is None:
        return None
    value = _SPACES.sub(" ", clean_text(str(value))).strip()
    return value or None


def text(value: Optional[str]) -> Optional[str]:
    """Text for an ``xsd:string`` field (keeps line breaks)."""
    if value is None:
        return None
    value = clean_text(str(value)).strip()
    return value or None


def _plain(value: Decimal) -> str:
    result = format(value, "f")
    return "0" if result.lstrip("-") in ("0", "") else result


def amount(value: Optional[Decimal]) -> Optional[str]:
    """TKwotowy: always two decimals ("12.30"), never "-0.00"."""
    if value is None:
        return None
    value = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if value == 0:
        value = abs(value)
    return format(value, "f")


def decimal(value: Optional[Decimal], places: int, min_places: int = 0) -> Optional[str]:
    """A decimal with at most ``places`` and at least ``min_places`` decimals
    (TKwotowy2 prices: 8/2, TIlosci quantities and rates: 6/0)."""
    if value is None:
        return None
    value = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    value = value.normalize()
    if value == 0:
        value = Decimal(0)
    if -value.as_tuple().exponent < min_places:
        value = value.quantize(Decimal(1).scaleb(-min_places))
    return _plain(value)


def price(value: Optional[Decimal]) -> Optional[str]:
    """TKwotowy2 (unit prices, discounts): up to 8 decimals, at least 2."""
    return decimal(value, 8, 2)


def quantity(value: Optional[Decimal]) -> Optional[str]:
    """TIlosci (quantities, exchange rates): up to 6 decimals."""
    return decimal(value, 6)


def day(value: Optional[date]) -> Optional[str]:
    """TData: ISO date."""
    return value.isoformat() if value is not None else None


def timestamp(value: datetime) -> str:
    """TDataCzas in UTC with a "Z" suffix, whole seconds."""
    if value.tzinfo is None:
        raise ValueError("created_at must be timezone-aware (UTC)")
    return value.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def flag(value: bool) -> Optional[str]:
    """An optional TWybor1 marker: "1" when true, absent otherwise."""
    return "1" if value else None


def yes_no(value: bool) -> str:
    """A mandatory TWybor1_2 marker: "1" yes, "2" no."""
    return "1" if value else "2"


def integer(value: Optional[int]) -> Optional[str]:
    return None if value is None else str(int(value))


def render(node: Node, namespace: str) -> Optional[etree._Element]:
    """Render a template into an lxml element (``None`` if it is empty)."""
    tag, content = node
    if content is None:
        return None
    element = etree.Element("{%s}%s" % (namespace, tag), nsmap={None: namespace})
    if _fill(element, content, namespace):
        return element
    return None


def _fill(element, content, namespace) -> bool:
    if isinstance(content, str):
        element.text = content
        return True
    filled = False
    for child in content:
        if child is None or child[1] is None:
            continue
        sub = etree.SubElement(element, "{%s}%s" % (namespace, child[0]))
        if len(child) > 2:
            for name, value in child[2].items():
                sub.set(name, value)
        if _fill(sub, child[1], namespace):
            filled = True
        else:
            element.remove(sub)
    return filled


def children(*nodes) -> List[Node]:
    """Flatten lists of nodes (repeated elements) into one child list."""
    result: List[Node] = []
    for item in nodes:
        if isinstance(item, list):
            result.extend(item)
        elif item is not None:
            result.append(item)
    return result
