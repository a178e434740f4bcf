"""The sensitive-content detector: categories, checksums, Unicode tricks, measured targets."""

from __future__ import annotations

import importlib.util
import re
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.routing.sensitive import Category, CustomPattern, DetectorConfig, SensitiveDetector
from bot.routing.sensitive.checksums import card_number_valid, iban_valid, luhn_valid
from bot.routing.sensitive.custom_patterns import compile_bounded
from bot.routing.sensitive.normalize import normalize

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def detector() -> SensitiveDetector:
    return SensitiveDetector()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("write to jane.doe@example.org", "email"),
        ("card 4111 1111 1111 1111", "credit_card"),
        ("amex 3782-822463-10005", "credit_card"),
        ("IBAN GB82 WEST 1234 5698 7654 32", "iban"),
        ("ssn 078-05-1120", "national_id"),
        ("host 203.0.113.7 is down", "ip_address"),
        ("ping 2001:db8::ff00:42:8329", "ip_address"),
        ("call +1 (415) 555-0132 tomorrow", "phone"),
        ("Phone: 0496 46 46 70", "phone"),
        ("ship it to 221B Baker Street, London", "street_address"),
        ("born on 12 March 1987", "date_of_birth"),
        ("AWS key AKIAIOSFODNN7EXAMPLE", "secret"),
        ("password: hunter2", "secret"),
        ("redis://default:s3cr3t@cache:6379/0", "secret"),
    ],
)
def test_each_category_is_found(detector: SensitiveDetector, text: str, category: str) -> None:
    assert category in detector.categories([text])


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "IBAN GB82 WEST 1234 5698 7654 33",  # mod-97 fails
        "released 1.2.3 and 10.4.22 today",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "request 3f2504e0-4f89-11d3-9a0c-0305e82c3301 on port 8080",
        "listening on 127.0.0.1:3000 and 0.0.0.0:9090",
        "the token is stored in vault",
        "password reset emails go out within 5 minutes",
        "SKU 4006381333931 restocked",
        "timestamp 1732838400000 and 1721609600.123456",
        "During 2017 we moved to monitoring 3 clusters",
        "Suite 2026 of the benchmark runs 14 workloads",
    ],
)
def test_engineering_numbers_are_not_sensitive(detector: SensitiveDetector, text: str) -> None:
    assert detector.findings(text) == []


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("card ４１１１ １１１１ １１１１ １１１１", "credit_card"),  # full-width digits
        ("card 4111\u200b1111\u200b1111\u200b1111", "credit_card"),  # zero-width spaces
        ("card 4111\u20131111\u20131111\u20131111", "credit_card"),  # en dashes
        ("card 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "credit_card"),  # digits split by spaces
        ("card 4111-1111-1111-1111", "credit_card"),
        ("AKIA\u200bIOSFODNN7\u200dEXAMPLE", "secret"),  # zero-width inside a key
        ("ｇｈｐ＿16C7e42F292c6912E7710c838347Ae178B4a", "secret"),  # full-width key
        ("gh\u00adp_16C7e42F292c6912E7710c838347Ae178B4a", "secret"),  # soft hyphen
        ("pass\u2060word = Zx9!kq2", "secret"),  # word joiner inside the keyword
        ("ssn 078\u201105\u20111120", "national_id"),  # non-breaking hyphens
    ],
)
def test_unicode_tricks_do_not_hide_data(
    detector: SensitiveDetector, text: str, category: str
) -> None:
    assert category in detector.categories([text])


def test_names_are_off_by_default_and_can_be_switched_on() -> None:
    text = "Dear Margarethe Vestager, thanks for the call"
    assert SensitiveDetector().categories([text]) == frozenset()
    names = SensitiveDetector(DetectorConfig(categories=frozenset({Category.PERSON_NAME})))
    assert names.categories([text]) == {"person_name"}


def test_custom_patterns() -> None:
    config = DetectorConfig(
        custom=(
            CustomPattern(
                "codename", compile_bounded(r"\bproject (?:falcon|osprey)\b", ignore_case=True)
            ),
        )
    )
    found = SensitiveDetector(config).categories(["status of Project Falcon?"])
    assert found == {"custom:codename"}


def test_redaction_keeps_the_shape_and_drops_the_data(detector: SensitiveDetector) -> None:
    text = "mail jane@corp.io, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE"
    redacted = detector.redact(text)
    assert redacted == "mail [email], card [credit_card], key [secret]"


def test_checksums() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert card_number_valid("4111111111111111")
    assert not card_number_valid("1111111111111117")  # valid Luhn, no network prefix
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert iban_valid("gb82west12345698765432")
    assert not iban_valid("DE89 3704 0044 0532 0130 01")


def test_measured_detection_meets_the_targets() -> None:
    path = ROOT / "scripts" / "eval_detector.py"
    spec = importlib.util.spec_from_file_location("eval_detector", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_detector"] = module
    spec.loader.exec_module(module)
    result = module.evaluate(generated=1000, speed_rounds=1)
    categories = result["categories"]
    for name in ("email", "phone", "credit_card", "iban", "national_id", "ip_address", "secret"):
        assert categories[name]["recall"] >= 0.99, (name, categories[name])
    assert categories["street_address"]["recall"] >= 0.90
    assert result["negatives"]["false_positive_rate"] <= 0.02


def _normalized_by_definition(text: str) -> str:
    """`normalize` as its docstring defines it, one character at a time."""
    kept_controls = "\t\n\x0b\x0c\r"
    text = "".join(c for c in text if unicodedata.category(c) != "Cc" or c in kept_controls)
    if text.isascii():
        return text
    out = []
    for c in unicodedata.normalize("NFC", text):
        if unicodedata.category(c) == "Cf":
            continue
        compatible = unicodedata.normalize("NFKC", c)
        out.append(compatible if len(compatible) <= 3 else c)
    folded = "".join(out)
    folded = re.sub("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]", "-", folded)
    return re.sub("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]", " ", folded)


mostly_ascii = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=30), st.text(max_size=3)
    ),
    max_size=20,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), mostly_ascii))
def test_normalize_is_its_definition_however_much_of_the_text_is_ascii(text: str) -> None:
    assert normalize(text) == _normalized_by_definition(text)
