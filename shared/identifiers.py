"""What the API accepts from outside: identifiers, labels, numbers and times.

The one place that says which characters and lengths a ``resource_id``, a metric name, a label
key or a label value may have, that a value is a number (``true`` is not), and how a time is
read (ISO 8601, or a number of seconds since the epoch: never milliseconds). Every entry point
(``POST /v1/metrics``, the Alertmanager receiver, the detector's ``/anomaly*``, the remediator's
``/remediation/evaluate``) validates with these types.

Event models read from the streams keep their older, more tolerant types (``shared.events``):
an event written before these rules must stay readable.

Names are shown to people (Slack, the console, logs), so characters that are invisible or
rearrange the text around them are refused: control characters (line breaks included), Unicode
format characters (zero-width spaces and joiners, bidirectional overrides such as U+202E),
private-use and surrogate code points, line or paragraph separators, and every space but the
plain one where spaces are allowed. The API documents say the same as a ``pattern`` (one class
of refused characters, built from the same categories), so a client or a fuzzer generating
from the documents knows which names are accepted. Code points Unicode has not assigned yet are
accepted: they show as a box, not as nothing, and listing them would take ~700 ranges.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

from shared.events import ISO_OR_EPOCH_SCHEMA, aware_utc

RESOURCE_ID_MAX = 256
METRIC_MAX = 128
METRIC_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:\-]*$"
LABEL_KEY_MAX = 128
LABEL_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:/\-]*$"
LABEL_VALUE_MAX = 1024
LABELS_MAX = 32

# Unicode general categories refused everywhere: control (Cc), format (Cf), surrogate (Cs),
# private use (Co), line (Zl) and paragraph (Zp) separators.
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def hidden_character(text: str, *, spaces: bool) -> str | None:
    """A description of the first character of ``text`` that is refused (None: all visible).
    ``spaces``: whether the plain space U+0020 is allowed (label values), no other space is."""
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category in _HIDDEN or (category == "Zs" and not (spaces and char == " ")):
            return f"U+{ord(char):04X} ({_KIND.get(category, 'space')}) at position {position}"
    return None


_KIND = {
    "Cc": "control character",
    "Cf": "invisible format character",
    "Cs": "surrogate",
    "Co": "private-use character",
    "Zl": "line separator",
    "Zp": "paragraph separator",
}


@cache
def _refused_ranges() -> tuple[tuple[int, int], ...]:
    """The ranges of code points ``hidden_character`` refuses in a word (no space allowed),
    surrogates left out (see :func:`visible_pattern`): one pass over Unicode (~0.15 s), made
    once per process, when the API documents are first built."""
    category = unicodedata.category
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for code_point in range(0x110001):
        refused = False
        if code_point <= 0x10FFFF and not 0xD800 <= code_point <= 0xDFFF:
            kind = category(chr(code_point))
            refused = kind in _HIDDEN or kind == "Zs"
        if refused and start is None:
            start = code_point
        elif not refused and start is not None:
            ranges.append((start, code_point - 1))
            start = None
    return tuple(ranges)


def _without_space(ranges: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """``ranges`` with the plain space U+0020 taken out (allowed in text)."""
    kept: list[tuple[int, int]] = []
    for first, last in ranges:
        if first <= 0x20 <= last:
            kept += [r for r in ((first, 0x1F), (0x21, last)) if r[0] <= r[1]]
        else:
            kept.append((first, last))
    return kept


def _class_item(first: int, last: int) -> str:
    """A range of a regular expression's character class. Code points of the Basic
    Multilingual Plane are written ``\\uXXXX`` (read alike by ECMA-262, Python and Rust
    engines); those above it are written as themselves, since each engine spells their
    escapes differently."""

    def one(code_point: int) -> str:
        return f"\\u{code_point:04X}" if code_point <= 0xFFFF else chr(code_point)

    return one(first) if first == last else f"{one(first)}-{one(last)}"


@cache
def visible_pattern(*, spaces: bool) -> str:
    """The regular expression of the strings ``hidden_character`` finds nothing in: one
    negated class of every refused code point, computed from the same categories (so the
    documents and the validation cannot disagree). Surrogates (U+D800-U+DFFF) are left out
    of the class: they are no characters, so no UTF-8 text carries them and Rust's regular
    expressions (those of schema validators) refuse to name them; the validation still
    refuses one smuggled in as a ``\\uD800`` escape."""
    ranges = _without_space(_refused_ranges()) if spaces else _refused_ranges()
    items = "".join(_class_item(first, last) for first, last in ranges)
    return f"^[^{items}]*$"


@dataclass(frozen=True)
class _DocumentedVisible:
    """States the refused characters in a field's JSON schema as ``visible_pattern``."""

    spaces: bool

    def __get_pydantic_json_schema__(
        self, core_schema: Any, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        schema: dict[str, Any] = handler(core_schema)
        schema["pattern"] = visible_pattern(spaces=self.spaces)
        return schema


def visible(text: str) -> str:
    """``text`` with every refused character (line breaks included) replaced by a space: for
    free text shown to people (an alert's summary), where refusing would lose the alert."""
    return "".join(
        " " if hidden_character(char, spaces=True) is not None else char for char in text
    )


def _check(text: str, *, spaces: bool) -> str:
    found = hidden_character(text, spaces=spaces)
    if found is not None:
        allowed = "visible characters and plain spaces" if spaces else "visible characters"
        raise ValueError(f"contains {found}; only {allowed} are accepted")
    return text


def _visible_word(text: str) -> str:
    return _check(text, spaces=False)


def _visible_text(text: str) -> str:
    return _check(text, spaces=True)


ResourceId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=RESOURCE_ID_MAX),
    AfterValidator(_visible_word),
    _DocumentedVisible(spaces=False),
    Field(description="Visible characters, no spaces; at most 256.", examples=["web-1"]),
]
MetricName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=METRIC_MAX, pattern=METRIC_PATTERN),
    Field(examples=["cpu_utilization"]),
]
LabelKey = Annotated[
    str, StringConstraints(min_length=1, max_length=LABEL_KEY_MAX, pattern=LABEL_KEY_PATTERN)
]
LabelValue = Annotated[
    str,
    StringConstraints(max_length=LABEL_VALUE_MAX),
    AfterValidator(_visible_text),
    _DocumentedVisible(spaces=True),
]
Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=LABELS_MAX)]
#: A glob over names (a maintenance window's target pattern, a silence's resource or metric),
#: as strict as the names it matches: a zero-width space makes a pattern that reads "web-*"
#: and matches no name, a bidi override one that reads "db-*" (refused, never rewritten: a
#: glob changed silently would match something else).
NamePattern = Annotated[str, AfterValidator(_visible_word), _DocumentedVisible(spaces=False)]
#: Free text a request gives for people to read (who asks or decides, a reason, a comment): a
#: character that is invisible or rearranges the text around it (a bidi override making a
#: record read as another resource, a line break forging a second line) becomes a space. Not
#: refused: the text is a label, and a request must not fail over a pasted zero-width space.
ShownText = Annotated[str, AfterValidator(visible)]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number (NaN and infinity are refused)")
    return value


# A JSON number: ``true``/``false`` and numeric strings are refused, not read as 1.0.
Number = Annotated[float, Strict(), AfterValidator(_finite)]

#: The largest magnitude a measurement may have. Larger finite values would overflow the
#: detector's running statistics, which would have to skip them: they are refused where they
#: come in, naming the field, rather than accepted and never scored (and never paging, even
#: over a hard limit). Prometheus remote write drops them and counts them (``non_finite``).
MAX_SAMPLE_MAGNITUDE = 1e100


def measurable(value: float) -> bool:
    """A value the detector can score: finite and at most ``MAX_SAMPLE_MAGNITUDE`` in size."""
    return abs(value) <= MAX_SAMPLE_MAGNITUDE  # False for NaN too


def _measurable(value: float) -> float:
    _finite(value)
    if not measurable(value):
        raise ValueError(
            f"must be at most {MAX_SAMPLE_MAGNITUDE:g} in magnitude (not a measurement)"
        )
    return value


#: A sample's value (a JSON number, finite, at most ``MAX_SAMPLE_MAGNITUDE`` in magnitude).
SampleValue = Annotated[
    float,
    Strict(),
    AfterValidator(_measurable),
    WithJsonSchema(
        {"type": "number", "minimum": -MAX_SAMPLE_MAGNITUDE, "maximum": MAX_SAMPLE_MAGNITUDE}
    ),
]


def whole_json_number(value: Any) -> Any:
    """A JSON integer as JSON Schema counts them: ``120`` or ``120.0`` (a number with no
    fraction), never ``true`` (read leniently, ``"limit": true`` replayed one dead letter)."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number (true and false are refused)")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A count, a period: ``true``, ``"120"`` and ``1.5`` are refused.
WholeNumber = Annotated[int, BeforeValidator(whole_json_number), Strict()]
# In an optional field, give bounds inside, before the validator, so the document states them
# as JSON Schema's minimum and maximum: Annotated[int, Field(ge=..), BeforeValidator(
# whole_json_number), Strict()] | None (bounds on ``WholeNumber | None`` are not stated).

# datetime.max as seconds since the epoch: larger numbers name no date at all.
_LAST_EPOCH_SECOND = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def _epoch_seconds(value: Any) -> Any:
    """A number is seconds since the epoch, whatever its size (pydantic alone would read one
    above 2e10 as milliseconds: 1e11 would become 1973 instead of a refused far future)."""
    if isinstance(value, bool):
        raise ValueError("a time is an ISO 8601 string or a number of seconds since the epoch")
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value  # ISO 8601, parsed by pydantic
        # As documented: seconds are a JSON number. Text would also be read by float() in
        # spellings no client means (" 1e9", "1_000", full-width digits).
        raise ValueError(
            "a time in seconds since the epoch is a JSON number, not text (or ISO 8601 text)"
        )
    if isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > _LAST_EPOCH_SECOND:
            raise ValueError(
                f"{value!r} seconds since the epoch is no date (times are ISO 8601 or seconds "
                "since the epoch, not milliseconds)"
            )
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} seconds since the epoch is before year 1") from None
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_epoch_seconds),
    AfterValidator(aware_utc),
    # No example: any fixed date would soon be refused as too old, and the API documentation
    # must show only examples the services accept.
    WithJsonSchema(ISO_OR_EPOCH_SCHEMA),
]


#: What the entry points that bound a time by the receiving clock say of it (ingest, the
#: Alertmanager receiver, the detector's scoring routes; ``SCOPS_MAX_PAST_S``/``_FUTURE_S``).
CLOCKED_TIME = (
    "ISO 8601 (UTC if no zone) or seconds since the epoch (never milliseconds); refused (422) "
    "when more than SCOPS_MAX_PAST_S (default 7 days) behind or SCOPS_MAX_FUTURE_S (default 5 "
    "minutes) ahead of the receiving clock."
)


STREAM_ID_PART_MAX = 2**64 - 1  # each part of a Redis stream entry id is an unsigned 64-bit


def digits_at_most(limit: int) -> str:
    """A regular expression (no anchors) for the decimal spellings of 0..``limit`` with as
    many leading zeros as ``limit`` has digits: what JSON Schema can say of a bound on a number
    written as text."""
    top = str(limit)
    width = len(top)
    choices = [f"[0-9]{{1,{width - 1}}}"] if width > 1 else []
    for position, digit in enumerate(top):
        if digit != "0":
            below = "0" if digit == "1" else f"[0-{int(digit) - 1}]"
            rest = width - position - 1
            choices.append(top[:position] + below + (f"[0-9]{{{rest}}}" if rest else ""))
    choices.append(top)
    return "(?:" + "|".join(choices) + ")"


_STREAM_ID_PART = digits_at_most(STREAM_ID_PART_MAX)
#: A stream entry id as Redis writes it, each part within 64 bits (the documents state it).
STREAM_ENTRY_ID_PATTERN = f"^{_STREAM_ID_PART}-{_STREAM_ID_PART}$"


def _stream_entry_id(value: str) -> str:
    ms, _, seq = value.partition("-")
    if int(ms) > STREAM_ID_PART_MAX or int(seq) > STREAM_ID_PART_MAX:
        raise ValueError(f"each part of <ms>-<seq> is at most {STREAM_ID_PART_MAX}")
    return value


# A stream entry id as Redis writes it (``<ms>-<seq>``, ASCII digits, each part within 64 bits):
# anything else Redis refuses with an error, so it is refused here first.
StreamEntryId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,20}-[0-9]{1,20}$"),
    AfterValidator(_stream_entry_id),  # a part past 64 bits is refused saying so
    Field(examples=["1767225600000-0"], json_schema_extra={"pattern": STREAM_ENTRY_ID_PATTERN}),
]


def dated_now(*fields: str) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` giving each of ``fields`` an example time of now, taken when the
    API description is built: a client (or a test generator) composing a body from property
    examples then sends a time the services accept."""

    def add(schema: dict[str, Any]) -> None:
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        for name in fields:
            schema.get("properties", {}).get(name, {})["examples"] = [now]

    return add
