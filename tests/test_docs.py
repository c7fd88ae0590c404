"""The README and docs/ speak of this repository only: a reader of a clone can open every file they name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
CODE_PATH = re.compile(r"`((?:\.\./|/)[^`\s]+)`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_doc_points_outside_the_repository(doc: Path):
    text = doc.read_text(encoding="utf-8")
    outside = [m for m in CODE_PATH.findall(text) if m.startswith("../") or m.startswith("/work")]
    assert outside == [], f"{doc.name} names files outside the repository: {outside}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_names_a_file_of_the_repository(doc: Path):
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in MARKDOWN_LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        resolved = (doc.parent / target).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert broken == [], f"{doc.name} links to files that are not in the repository: {broken}"
