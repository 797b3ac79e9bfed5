"""The province holder import file (CSV or NDJSON) and a streaming parser that explains every bad row.

Reasons show personal values (aac002, aac003, aac067, aaz500) only masked: they go to terminals and files.
Both formats carry the columns/keys of ``COLUMNS``. CSV is UTF-8 (a BOM is allowed) with a header row; each
record is one physical line, since no field may contain a line break. NDJSON is one JSON object per line. Line
numbers are 1-based physical lines of the file (the CSV header is line 1); blank lines are skipped.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

import orjson

from essc.cardholders.lifecycle import CardStatus
from essc.kit.errors import InvalidInput
from essc.kit.idnumber import InvalidIdNumber, check_digit, normalise_id_number
from essc.kit.masking import mask_card_number, mask_id_number, mask_mobile, mask_name
from essc.kit.names import MAX_NAME_LENGTH, InvalidName, check_person_name
from essc.regions.data import is_known_region, valid_since

Format = Literal["csv", "ndjson"]

COLUMNS = (
    "aac002",
    "aac003",
    "aac067",
    "aaz500",
    "aaz501",
    "aab301",
    "generation",
    "bank_account_active",
    "card_status",
)
# A holder without a mobile number is normal, so the column/key may be left out altogether.
OPTIONAL_COLUMNS = frozenset({"aac067"})
REQUIRED_COLUMNS = tuple(c for c in COLUMNS if c not in OPTIONAL_COLUMNS)
CARD_STATUSES = tuple(status.value for status in CardStatus)
SUFFIXES: dict[str, Format] = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_AAZ500 = re.compile(r"[0-9A-Za-z]{9}")
_AAZ501 = re.compile(r"[0-9A-Za-z]{1,32}")
_AAC067 = re.compile(r"1[0-9]{10}")
_AAB301 = re.compile(r"[0-9]{6}")
_AAC002_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_CSV_PLAIN = re.compile(r'[^"\r\n\x00]*')
# A name of CJK Unified Ideographs only (category Lo, all of them assigned since Unicode 14), which most names
# of a Chinese file are, is one that check_person_name keeps as it is: taken without its per-character lookup.
_HANZI_NAME = re.compile(rf"[\u4e00-\u9fff]{{1,{MAX_NAME_LENGTH}}}")
_BOM = b"\xef\xbb\xbf"
_SHOWN = 40


class ImportFileError(InvalidInput):
    """The file as a whole cannot be read: unknown format, unreadable file or a bad header."""

    code = "invalid_import_file"
    title = "Invalid import file"


@dataclass(frozen=True, slots=True)
class HolderRecord:
    """One holder and their physical card as a province delivers it."""

    aac002: str
    aac003: str
    aac067: str | None
    aaz500: str
    aaz501: str
    aab301: str
    generation: int
    bank_account_active: bool
    card_status: str

    def as_row(self) -> dict[str, str | int | bool | None]:
        """The record keyed by its column names."""
        return {column: getattr(self, column) for column in COLUMNS}


@dataclass(frozen=True, slots=True)
class GoodRow:
    line: int
    record: HolderRecord


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str


ParsedRow = GoodRow | BadRow


def _show(value: object) -> str:
    """A value for a message: text quoted, other JSON values as JSON, cut short so none floods a report."""
    if isinstance(value, str):
        return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")
    text = orjson.dumps(value).decode()
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


# How each personal column is shown in a reason: masked, whatever the value.
_MASKS: dict[str, Callable[[str], str]] = {
    "aac002": mask_id_number,
    "aac003": mask_name,
    "aac067": mask_mobile,
    "aaz500": mask_card_number,
}


def _show_field(key: str, value: object) -> str:
    """A field's value for a message: masked for a personal column (a non-string as its JSON type only)."""
    mask = _MASKS.get(key)
    if mask is None:
        return _show(value)
    if isinstance(value, str):
        return _show(mask(value))
    return "a JSON " + {bool: "boolean", int: "number", float: "number", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _aac002_problem(value: str) -> str:
    """Why an ID number that failed validation is wrong, in words an operator can act on (masked)."""
    shown = _show_field("aac002", value)
    if len(value) != 18:
        return f"aac002 {shown} must have 18 characters, got {len(value)}"
    if not _AAC002_SHAPE.fullmatch(value):
        return f"aac002 {shown} must be 17 digits followed by a digit or X"
    if check_digit(value[:17]) != value[17]:
        return f"aac002 {shown} has a wrong check digit"
    birth = value[6:14]
    try:
        year = int(birth[:4])
        date(year, int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        return f"aac002 {shown} carries an impossible birth date"
    return f"aac002 {shown} carries a region that was not a GB/T 2260 county in its birth year"


class _FieldError(ValueError):
    """One field's problem, raised by a field check and collected into the row's reason."""


T = TypeVar("T")


def _stripped(key: str, value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    raise _FieldError(f"{key} must be a string, got {_show_field(key, value)}")


def _plainly_valid_aac002(text: str) -> bool:
    """A quick sufficient test: ASCII shape, check digit, real birth date and a county current since then."""
    if not _AAC002_SHAPE.fullmatch(text) or check_digit(text[:17]) != text[17]:
        return False
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
        since = valid_since(text[:6])
    except (ValueError, KeyError):
        return False
    return since is None or born.year >= since


def _aac002(value: object) -> str:
    text = _stripped("aac002", value).upper()
    # stdnum's region lookup scans its table on every call; most rows pass this cheaper test, and whatever
    # fails it (historical county codes, full-width digits) still gets the authoritative validation below.
    if _plainly_valid_aac002(text):
        return text
    try:
        return normalise_id_number(text)
    except InvalidIdNumber:
        raise _FieldError(_aac002_problem(text)) from None


def _aac003(value: object) -> str:
    text = _stripped("aac003", value)
    try:
        return check_person_name(text)
    except InvalidName as exc:
        # All masked: the one character a name's mask keeps may be the very one refused (an override).
        raise _FieldError(f"aac003 {_show('*' * len(text))}: {exc}") from None


def _aac067(value: object) -> str | None:
    if value is None:
        return None
    text = _stripped("aac067", value)
    if not text:
        return None
    if not _AAC067.fullmatch(text):
        raise _FieldError(f"aac067 {_show_field('aac067', text)} must be 11 digits starting with 1, or empty")
    return text


def _aaz500(value: object) -> str:
    text = _stripped("aaz500", value)
    if not _AAZ500.fullmatch(text):
        raise _FieldError(f"aaz500 {_show_field('aaz500', text)} must be exactly 9 letters or digits")
    return text


def _aaz501(value: object) -> str:
    text = _stripped("aaz501", value)
    if not _AAZ501.fullmatch(text):
        raise _FieldError(f"aaz501 {_show(text)} must be 1 to 32 letters or digits")
    return text


def _aab301(value: object) -> str:
    text = _stripped("aab301", value)
    if not _AAB301.fullmatch(text):
        raise _FieldError(f"aab301 {_show(text)} must be 6 digits")
    if not is_known_region(text):
        raise _FieldError(f"aab301 {_show(text)} is not a GB/T 2260 region")
    return text


def _generation(value: object) -> int:
    # bool is an int in Python; JSON true must not pass as a generation.
    if isinstance(value, int) and not isinstance(value, bool) and value in (2, 3):
        return value
    if isinstance(value, str) and value.strip() in ("2", "3"):
        return int(value)
    raise _FieldError(f"generation must be 2 or 3, got {_show(value)}")


def _bank_account_active(value: object) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str | int) else ""
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _FieldError(f"bank_account_active must be true/false/1/0/yes/no, got {_show(value)}")


def _card_status(value: object) -> str:
    text = _stripped("card_status", value)
    if text not in CARD_STATUSES:
        raise _FieldError(f"card_status {_show(text)} must be one of {', '.join(CARD_STATUSES)}")
    return text


def _field(
    values: Mapping[str, object], key: str, check: Callable[[object], T], problems: list[str]
) -> T | None:
    try:
        return check(values.get(key))
    except _FieldError as exc:
        problems.append(str(exc))
        return None


def _record(values: Mapping[str, object]) -> HolderRecord | str:
    """Check one row's values (CSV strings or JSON values): the record, or every reason it is bad."""
    problems: list[str] = []
    aac002 = _field(values, "aac002", _aac002, problems)
    aac003 = _field(values, "aac003", _aac003, problems)
    aac067 = _field(values, "aac067", _aac067, problems)
    aaz500 = _field(values, "aaz500", _aaz500, problems)
    aaz501 = _field(values, "aaz501", _aaz501, problems)
    aab301 = _field(values, "aab301", _aab301, problems)
    generation = _field(values, "generation", _generation, problems)
    active = _field(values, "bank_account_active", _bank_account_active, problems)
    card_status = _field(values, "card_status", _card_status, problems)
    if (
        problems
        or aac002 is None
        or aac003 is None
        or aaz500 is None
        or aaz501 is None
        or aab301 is None
        or generation is None
        or active is None
        or card_status is None
    ):
        return "; ".join(problems)
    return HolderRecord(aac002, aac003, aac067, aaz500, aaz501, aab301, generation, active, card_status)


def _decoded_lines(path: Path) -> Generator[tuple[int, str | None]]:
    """Numbered physical lines, read one at a time; None stands for a line that is not valid UTF-8."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}", path=str(path)) from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            yield number, decode_line(number, raw)


def _csv_fields(text: str) -> list[str]:
    # Strict quoting: a stray quote is reported on its own line instead of swallowing the lines after it.
    return next(csv.reader((text,), strict=True), [])


def _csv_header(lines: Iterator[tuple[int, str | None]], path: Path) -> list[str]:
    """The header's column names, or ImportFileError when they cannot describe holder rows."""
    for _number, text in lines:
        if text is None:
            raise ImportFileError(f"{path.name}: the header row is not valid UTF-8", path=str(path))
        try:
            header = [name.strip() for name in _csv_fields(text.rstrip("\r\n"))]
        except csv.Error as exc:
            message = f"{path.name}: the header row is not valid CSV: {exc}"
            raise ImportFileError(message, path=str(path)) from exc
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise ImportFileError(f"{path.name}: duplicate column {', '.join(duplicates)}", path=str(path))
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise ImportFileError(f"{path.name}: missing column{plural} {', '.join(missing)}", path=str(path))
        return header
    raise ImportFileError(f"{path.name}: the file is empty; a CSV import needs a header row", path=str(path))


def _quick_record(fields: Sequence[str], at: Sequence[int], mobile_at: int | None) -> HolderRecord | None:
    """The record of a plainly valid row of CSV strings, or None; `at`: the positions of REQUIRED_COLUMNS.

    A sufficient test only: every row it takes, _record takes and makes into the same record; whatever it
    refuses goes through _record, which finds the reasons. It saves _record's per-field calls on good rows.
    """
    at_002, at_003, at_500, at_501, at_301, at_generation, at_active, at_status = at
    aac002, name, aaz500 = fields[at_002].strip().upper(), fields[at_003].strip(), fields[at_500].strip()
    aaz501, aab301 = fields[at_501].strip(), fields[at_301].strip()
    generation, active = fields[at_generation].strip(), fields[at_active].strip().lower()
    card_status = fields[at_status].strip()
    mobile = None if mobile_at is None else fields[mobile_at].strip() or None
    if (
        not _plainly_valid_aac002(aac002)
        or (mobile is not None and not _AAC067.fullmatch(mobile))
        or not _AAZ500.fullmatch(aaz500)
        or not _AAZ501.fullmatch(aaz501)
        or not _AAB301.fullmatch(aab301)
        or not is_known_region(aab301)
        or generation not in ("2", "3")
        or card_status not in CARD_STATUSES
        or (active not in _TRUE and active not in _FALSE)
    ):
        return None
    if _HANZI_NAME.fullmatch(name):
        aac003 = name
    else:
        try:
            aac003 = check_person_name(name)
        except InvalidName:
            return None
    return HolderRecord(
        aac002, aac003, mobile, aaz500, aaz501, aab301, int(generation), active in _TRUE, card_status
    )


class CsvRows:
    """Checks CSV data lines against one header; a line without quotes is split without the csv module."""

    def __init__(self, header: Sequence[str]) -> None:
        self.header = list(header)
        missing = [column for column in REQUIRED_COLUMNS if column not in self.header]
        if missing:
            raise ImportFileError(f"the header lacks column {', '.join(missing)}")
        self._at = tuple(self.header.index(column) for column in REQUIRED_COLUMNS)
        self._mobile_at = self.header.index("aac067") if "aac067" in self.header else None

    def __call__(self, number: int, text: str | None) -> ParsedRow | None:
        """One CSV data line checked; None for a line that holds no row (blank)."""
        if text is None:
            return BadRow(number, "the line is not valid UTF-8")
        if not text.strip():
            return None
        body = text.rstrip("\r\n")
        # Without a quote, a line break or NUL, and shorter than a field may be, the csv module splits a
        # line at its commas and nothing else (tests hold the two to the same result).
        if _CSV_PLAIN.fullmatch(body) and len(body) <= csv.field_size_limit():
            fields = body.split(",")
        else:
            try:
                fields = _csv_fields(body)
            except csv.Error as exc:
                return BadRow(number, f"malformed CSV: {exc}")
        if not "".join(fields).strip():
            return None  # spreadsheet exports end with rows of empty cells
        header = self.header
        if len(fields) != len(header):
            return BadRow(number, f"expected {len(header)} fields as in the header, got {len(fields)}")
        quick = _quick_record(fields, self._at, self._mobile_at)
        if quick is not None:
            return GoodRow(number, quick)
        result = _record(dict(zip(header, fields, strict=True)))
        return GoodRow(number, result) if isinstance(result, HolderRecord) else BadRow(number, result)


def csv_row(header: list[str], number: int, text: str | None) -> ParsedRow | None:
    """One CSV data line checked against the header; None for a line that holds no row (blank)."""
    return CsvRows(header)(number, text)


def ndjson_row(number: int, text: str | None) -> ParsedRow | None:
    """One NDJSON line checked; None for a blank line."""
    if text is None:
        return BadRow(number, "the line is not valid UTF-8")
    if not text.strip():
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return BadRow(number, f"invalid JSON: {exc}")
    if not isinstance(value, dict):
        return BadRow(number, f"expected a JSON object, got {type(value).__name__}")
    missing = [key for key in REQUIRED_COLUMNS if key not in value]
    if missing:
        return BadRow(number, f"missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    result = _record(value)
    return GoodRow(number, result) if isinstance(result, HolderRecord) else BadRow(number, result)


def decode_line(number: int, raw: bytes) -> str | None:
    """A physical line as text (a BOM dropped from line 1); None when it is not valid UTF-8."""
    data = raw[len(_BOM) :] if number == 1 and raw.startswith(_BOM) else raw
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_csv_header(path: Path) -> list[str]:
    """The CSV file's column names, or ImportFileError when they cannot describe holder rows."""
    lines = _decoded_lines(path)
    try:
        return _csv_header(lines, path)
    finally:
        lines.close()


def _parse_csv(path: Path) -> Iterator[ParsedRow]:
    lines = _decoded_lines(path)
    rows = CsvRows(_csv_header(lines, path))
    for number, text in lines:
        row = rows(number, text)
        if row is not None:
            yield row


def _parse_ndjson(path: Path) -> Iterator[ParsedRow]:
    for number, text in _decoded_lines(path):
        row = ndjson_row(number, text)
        if row is not None:
            yield row


def guess_format(path: Path) -> Format:
    """The format named by the file's suffix (.csv, .ndjson or .jsonl)."""
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise ImportFileError(
            f"cannot tell the format of {path.name}: name it .csv, .ndjson or .jsonl or give the format",
            path=str(path),
        ) from None


def parse_file(path: Path, fmt: Format | None = None) -> Iterator[ParsedRow]:
    """Stream an import file's rows; an unknown format or a bad header raises ImportFileError at once."""
    chosen = guess_format(path) if fmt is None else fmt
    if chosen == "csv":
        # Check the header now, before the caller starts a load, then stream from the start again.
        lines = _decoded_lines(path)
        try:
            _csv_header(lines, path)
        finally:
            lines.close()
        return _parse_csv(path)
    if chosen == "ndjson":
        if not path.is_file():
            raise ImportFileError(f"cannot read {path}: no such file", path=str(path))
        return _parse_ndjson(path)
    raise ImportFileError(f"unknown import format {chosen!r}: use csv or ndjson", path=str(path))
