"""Golden FA(3) files: every case of issue 7 builds byte-for-byte the
reviewed file, validates against the official XSD and parses back to the
same data.  Regenerate after a reviewed change with
``FA3_UPDATE_GOLDEN=1 python -m pytest ksef_protocol/tests/test_fa3_golden.py``.
"""
import os
from pathlib import Path

import pytest

from fa3_cases import CASES
from ksef_protocol.fa3 import build_fa3, parse_fa3, validate_fa3

GOLDEN_DIR = Path(__file__).parent / "data" / "fa3" / "golden"
UPDATE = os.environ.get("FA3_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_fa3_golden_file_matches(case):
    xml = build_fa3(CASES[case]())
    golden = GOLDEN_DIR / ("%s.xml" % case)
    if UPDATE:
        golden.write_bytes(xml)
    assert golden.exists(), "missing golden file %s (run with FA3_UPDATE_GOLDEN=1 and review it)" % golden
    assert xml.decode("utf-8") == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(CASES))
def test_fa3_golden_file_is_valid_against_xsd(case):
    validate_fa3((GOLDEN_DIR / ("%s.xml" % case)).read_bytes())


@pytest.mark.parametrize("case", sorted(CASES))
def test_fa3_round_trip_gives_same_invoice(case):
    invoice = CASES[case]()
    assert parse_fa3(build_fa3(invoice)) == invoice


def test_fa3_every_golden_file_has_a_case():
    names = {path.stem for path in GOLDEN_DIR.glob("*.xml")}
    assert names == set(CASES)
