"""`# noqa` and `# noqa: SQA201, SQA2` comments, read from the raw lines (flake8/ruff semantics)."""
from __future__ import annotations

import re

_NOQA = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]*(?:[,\s]+[A-Z]+[0-9]*)*))?", re.IGNORECASE)
_SPLIT = re.compile(r"[,\s]+")


def suppressed(line_text: str, code: str) -> bool:
    if "noqa" not in line_text.lower():
        return False
    for match in _NOQA.finditer(line_text):
        codes = match.group("codes")
        if codes is None:
            return True
        if any(code.startswith(c.upper()) for c in _SPLIT.split(codes.strip()) if c):
            return True
    return False
