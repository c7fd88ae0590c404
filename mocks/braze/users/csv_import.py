"""CSV user import by Braze's rules.

Type detection depends on whether a cell was quoted ("quoted values stay strings"), which the
standard `csv` module cannot tell, so cells are read with a small RFC 4180 reader that keeps that
bit. Default-attribute headers match exactly (case-sensitive); other headers are custom
attributes; blank cells leave values as they are; a row with the wrong number of cells, or with an
invalid default value, is dropped and reported by its line number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mocks.braze.rest import errors
from mocks.braze.rest.errors import bad_request
from mocks.braze.users.profiles import DEFAULT_ATTRIBUTES, Profile
from mocks.braze.users.track import UserTracker
from mocks.braze.users.values import InvalidValue, custom_value, default_attribute, parse_time

NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
IDENTIFIER_COLUMNS = ("external_id", "braze_id", "user_alias_name", "email", "phone")


@dataclass
class Cell:
    text: str
    quoted: bool


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "imported": self.imported, "created": self.created, "updated": self.updated,
                "dropped": len(self.errors), "errors": self.errors}


def read_rows(text: str) -> Iterator[tuple[int, list[Cell]]]:
    """Yield (line number where the row starts, cells); quoted cells may span lines."""
    i, n, line = 0, len(text), 1
    while i < n:
        start_line = line
        cells: list[Cell] = []
        while True:
            if i < n and text[i] == '"':
                i += 1
                buf = []
                while i < n:
                    ch = text[i]
                    if ch == '"':
                        if i + 1 < n and text[i + 1] == '"':
                            buf.append('"')
                            i += 2
                            continue
                        i += 1
                        break
                    if ch == "\n":
                        line += 1
                    buf.append(ch)
                    i += 1
                cells.append(Cell("".join(buf), True))
                while i < n and text[i] not in ",\r\n":  # stray text after a closing quote
                    cells[-1].text += text[i]
                    i += 1
            else:
                j = i
                while j < n and text[j] not in ",\r\n":
                    j += 1
                cells.append(Cell(text[i:j], False))
                i = j
            if i < n and text[i] == ",":
                i += 1
                continue
            break
        if i < n and text[i] == "\r":
            i += 1
        if i < n and text[i] == "\n":
            i += 1
        line += 1
        if len(cells) == 1 and cells[0].text == "" and not cells[0].quoted:
            continue  # an empty line
        yield start_line, cells


def detect(cell: Cell) -> Any:
    """A custom attribute value from a cell: times, booleans and numbers unless quoted."""
    if cell.quoted:
        return cell.text
    text = cell.text.strip()
    if text in ("true", "false"):
        return text == "true"
    if NUMBER.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    if ISO_DATETIME.match(text):
        try:
            return parse_time(text)
        except InvalidValue:
            return text
    return text


def import_csv(tracker: UserTracker, content: bytes) -> ImportReport:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_request(errors.CSV_NOT_UTF8) from None
    rows = read_rows(text)
    first = next(rows, None)
    if first is None:
        raise bad_request(errors.CSV_EMPTY)
    header = [c.text.strip() for c in first[1]]
    if len(set(header)) != len(header):
        raise bad_request(errors.CSV_DUPLICATE_COLUMNS)
    if not any(h in IDENTIFIER_COLUMNS for h in header):
        raise bad_request(errors.CSV_NO_IDENTIFIER)
    if "user_alias_name" in header and "user_alias_label" not in header:
        raise bad_request(errors.CSV_ALIAS_NEEDS_LABEL)
    report = ImportReport()
    for line, cells in rows:
        report.rows += 1
        if len(cells) != len(header):
            report.errors.append({"line": line, "reason": f"expected {len(header)} cells, found {len(cells)}"})
            continue
        try:
            _import_row(tracker, dict(zip(header, cells, strict=True)), report)
        except InvalidValue as exc:
            report.errors.append({"line": line, "reason": str(exc)})
    return report


def _import_row(tracker: UserTracker, row: dict[str, Cell], report: ImportReport) -> None:
    values = {k: c for k, c in row.items() if c.text.strip() != "" or (c.quoted and c.text != "")}
    updates: list[tuple[str, str, Any]] = []
    for name, cell in values.items():
        if name in ("external_id", "braze_id", "user_alias_name", "user_alias_label"):
            continue
        if name in DEFAULT_ATTRIBUTES:
            updates.append(("default", name, default_attribute(name, cell.text.strip())))
        else:
            updates.append(("custom", name, custom_value(name, detect(cell), detect_time=False)))
    profile, created = _find_or_create(tracker, values)
    for kind, name, value in updates:
        if kind == "default" and name in ("email", "phone"):
            tracker.users.set_contact(profile, name, value)
        elif kind == "default":
            profile.attributes[name] = value
        else:
            profile.custom[name] = value
    profile.updated_at = tracker.runtime.clock.now()
    report.imported += 1
    report.created += created
    report.updated += not created


def _find_or_create(tracker: UserTracker, values: dict[str, Cell]) -> tuple[Profile, bool]:
    users = tracker.users
    if "external_id" in values:
        external_id = values["external_id"].text.strip()
        profile = users.by_external_id(external_id)
        return (profile, False) if profile else (tracker.new_profile(external_id=external_id), True)
    if "braze_id" in values:
        profile = users.by_braze_id(values["braze_id"].text.strip())
        if profile is None:
            raise InvalidValue("no user has this braze_id (a braze_id import cannot create users)")
        return profile, False
    if "user_alias_name" in values and "user_alias_label" in values:
        name, label = values["user_alias_name"].text.strip(), values["user_alias_label"].text.strip()
        profile = users.by_alias(name, label)
        if profile:
            return profile, False
        return tracker.new_profile(user_aliases=[{"alias_name": name, "alias_label": label}]), True
    for kind in ("email", "phone"):
        if kind in values:
            contact = default_attribute(kind, values[kind].text.strip())
            matches = users.by_email(contact) if kind == "email" else users.by_phone(contact)
            if matches:
                return matches[0], False
            profile = tracker.new_profile()
            users.set_contact(profile, kind, contact)
            return profile, True
    raise InvalidValue("the row has no identifier value")
