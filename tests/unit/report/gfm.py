"""A small checker of GitHub-flavoured Markdown tables, for the report's Markdown outputs."""

from __future__ import annotations

import re

SEPARATOR = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+$")


def cells(line: str) -> list[str]:
    """The cells of a table line (pipes escaped as ``\\|`` stay inside a cell)."""
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def tables(text: str) -> list[list[list[str]]]:
    """Every table in ``text`` as rows of cells (header first, separator left out).

    Asserts what GFM needs to render one: a blank line (or the start) before the header, a
    separator row right under it with as many columns, every row with that many cells, and a
    blank line (or the end) after the last row.
    """
    lines = text.split("\n")
    found = []
    i = 0
    while i < len(lines) - 1:
        if lines[i].startswith("|") and SEPARATOR.match(lines[i + 1]):
            assert i == 0 or lines[i - 1].strip() == "", f"no blank line before {lines[i]!r}"
            width = len(cells(lines[i]))
            assert len(cells(lines[i + 1])) == width, lines[i + 1]
            rows = [cells(lines[i])]
            j = i + 2
            while j < len(lines) and lines[j].strip():
                assert lines[j].startswith("|"), f"line {lines[j]!r} would join the table"
                assert len(cells(lines[j])) == width, lines[j]
                rows.append(cells(lines[j]))
                j += 1
            found.append(rows)
            i = j
        else:
            assert not SEPARATOR.match(lines[i + 1]) or lines[i].startswith("|")
            i += 1
    return found
