"""Reading and parsing one file: BOMs, encoding cookies, CRLF and undecodable bytes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import re

import libcst as cst

_LIBCST_PREFIX = re.compile(r"^(parser error: )?error at \d+:\d+: ")


@dataclass
class ParseError:
    path: str
    line: int
    column: int  # 1-based
    message: str


@dataclass
class Source:
    path: str
    data: bytes
    module: cst.Module

    @property
    def lines(self) -> list[str]:
        lines = self.__dict__.get("_lines")
        if lines is None:
            text = self.data.decode(self.module.encoding, errors="replace")
            if text.startswith("\ufeff"):
                text = text[1:]
            lines = self.__dict__["_lines"] = text.splitlines()
        return lines


def read_bytes(path: str) -> Union[bytes, ParseError]:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        return ParseError(path, 1, 1, f"cannot read: {exc.strerror or exc}")


def parse(path: str, data: bytes) -> Union[Source, ParseError]:
    try:
        module = cst.parse_module(data)
    except cst.ParserSyntaxError as exc:
        message = _LIBCST_PREFIX.sub("", _first_line(exc.message))
        return ParseError(path, max(exc.raw_line, 1), exc.raw_column + 1, message)
    except (UnicodeDecodeError, LookupError, SyntaxError) as exc:
        return ParseError(path, 1, 1, f"cannot decode: {_first_line(str(exc))}")
    except Exception as exc:  # libcst raises a few other types on odd input; never crash the scan
        return ParseError(path, 1, 1, f"{type(exc).__name__}: {_first_line(str(exc))}")
    return Source(path, data, module)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["invalid syntax"])[0]


def text_line(source: Optional[Source], line: int) -> str:
    if source is None:
        return ""
    lines = source.lines
    return lines[line - 1] if 0 < line <= len(lines) else ""
