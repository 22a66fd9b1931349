"""The rows of a bank export's body, each with the file line it starts on.

``csv`` reads well-formed files at C speed and is used first. Some banks (several Baltic ones
among them) write quotes inside quoted fields without doubling them —
``"SIA "Rimi Latvia"";-12,30`` — which ``csv`` refuses in strict mode and garbles when not
strict. From the record where ``csv`` stops, the rest is read by :func:`_forgiving`, which
takes a quote as closing a field only where a delimiter or the end of the line follows it:
every well-formed record reads the same both ways, and a lone inner quote stays text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from cozy_kernel.errors import BadInput

Row = tuple[int, list[str]]


def rows(body: str, delimiter: str, first_line: int, where: str) -> Iterator[Row]:
    """Every record of ``body`` (its first line is file line ``first_line``), blank ones too."""
    reader = csv.reader(io.StringIO(body), delimiter=delimiter, strict=True)
    consumed = 0  # physical lines of the body read by complete records
    try:
        for row in reader:
            yield first_line + consumed, row
            consumed = reader.line_num
    except csv.Error:
        offset = _offset_of_line(body, consumed)
        yield from _forgiving(body[offset:], delimiter, first_line + consumed, where)


def _offset_of_line(text: str, index: int) -> int:
    offset = 0
    for _ in range(index):
        offset = text.find("\n", offset) + 1
        if offset == 0:
            return len(text)
    return offset


def _forgiving(text: str, delimiter: str, first_line: int, where: str) -> Iterator[Row]:
    """Records read with the lenient quote rule; a quote left open names its line.

    Hand-written: neither ``csv`` nor pandas' or pyarrow's readers have a mode that keeps an
    undoubled inner quote as text and still reads doubled quotes and multi-line fields.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    index = 0
    while index < len(lines):
        row, after = _record(lines, index, delimiter, first_line, where)
        yield first_line + index, row
        index = after


def _record(
    lines: list[str], index: int, delimiter: str, first_line: int, where: str
) -> tuple[list[str], int]:
    """The record starting at ``lines[index]`` and the index of the line after it."""
    line, pos, row = lines[index], 0, []
    while True:
        if not line.startswith('"', pos):
            end = line.find(delimiter, pos)
            if end < 0:
                row.append(line[pos:])
                return row, index + 1
            row.append(line[pos:end])
            pos = end + 1
            continue
        opened, pos, parts = index, pos + 1, []
        while True:
            quote = line.find('"', pos)
            if quote < 0:
                parts.append(line[pos:])
                index += 1
                if index == len(lines):
                    raise BadInput(
                        f"{where}:line {first_line + opened}: a quote opens a field here and "
                        "never closes (is the file truncated?)"
                    )
                parts.append("\n")
                line, pos = lines[index], 0
                continue
            parts.append(line[pos:quote])
            following = line[quote + 1 : quote + 2]
            if following == '"' and line[quote + 2 : quote + 3] not in ("", delimiter):
                parts.append('"')  # a doubled quote inside the field
                pos = quote + 2
                continue
            if following == '"':
                parts.append('"')  # an inner quote just before the closing one
                quote += 1
                following = line[quote + 1 : quote + 2]
            if following not in ("", delimiter):
                parts.append('"')  # an undoubled quote inside the field is text
                pos = quote + 1
                continue
            row.append("".join(parts))
            if following == "":
                return row, index + 1
            pos = quote + 2
            break
