"""docs/testing-your-code.md's first test, run as a reader runs it: copied out of the page into a file of its own,
under pytest with nothing but the installed plugin. A change that breaks the page's promise fails here."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-your-code.md"
pytest_plugins = ["pytester"]


def _first_test_of_the_page() -> str:
    section = DOC.read_text(encoding="utf-8").split("## 2.", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_pages_first_test_passes_as_written(pytester):
    pytester.makepyfile(test_welcome=_first_test_of_the_page())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)


def test_the_pages_first_test_fails_with_what_the_user_got_when_the_variable_is_missing(pytester):
    """The page shows the failure a missing first name gives: the same test, with the name left out."""
    broken = _first_test_of_the_page().replace('welcome("ada", "Ada",', 'welcome("ada", "",')
    pytester.makepyfile(test_welcome=broken)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Sendbird user 'ada' got no notification welcome with {'first_name': 'Ada'}*",
                                 "*welcome {'first_name': ''} -> {'title': 'Welcome, !'} (unread*"])
