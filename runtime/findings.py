"""Finding records and the bounded, deduplicated store that logs and exports them."""
from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from .codes import RUNTIME_CHECKS
from .frames import Frame

logger = logging.getLogger("sqlaguard")

NAMES = {check.code: check.name for check in RUNTIME_CHECKS}


@dataclass
class Finding:
    code: str
    name: str
    message: str
    method: str | None
    route: str | None
    location: str | None
    stack: list[Frame] = field(default_factory=list)
    duration_ms: float | None = None
    details: str | None = None
    count: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stack"] = [list(f) for f in self.stack]
        return data

    def format(self, with_stack: bool = False) -> str:
        where = f"{self.method} {self.route}" if self.route else "(outside a request)"
        text = f"{self.code} {self.name} in {where} at {self.location or '?'}: {self.message}"
        if self.details:
            text += f"\n    details: {self.details}"
        if self.duration_ms is not None:
            text += f"\n    duration: {self.duration_ms:.0f} ms"
        if with_stack and self.stack:
            text += "\n    stack (most recent call last):"
            for filename, lineno, function in self.stack:
                text += f"\n      {filename}:{lineno} in {function}"
        return text


class FindingStore:
    """Keeps at most `cap` distinct findings; a repeat (same code and location) only bumps count."""

    def __init__(self, cap: int, jsonl_path: str | None):
        self.cap = cap
        self.jsonl_path = jsonl_path
        self.items: list[Finding] = []
        self.dropped = 0
        self._by_key: dict[tuple[str, str | None], Finding] = {}
        self._lock = threading.Lock()

    def add(self, finding: Finding) -> Finding | None:
        """Return the finding if it is new (and so was logged), None for a repeat or a drop."""
        key = (finding.code, finding.location)
        with self._lock:
            existing = self._by_key.get(key)
            if existing is not None:
                existing.count += 1
                return None
            if len(self.items) >= self.cap:
                self.dropped += 1
                return None
            self._by_key[key] = finding
            self.items.append(finding)
        # A finding is logged at WARNING so it shows in the uvicorn console with no setup.
        logger.warning("sqlaguard %s", finding.format(with_stack=finding.code == "SQR501"))
        if self.jsonl_path:
            line = json.dumps(finding.to_dict(), default=str)
            with self._lock, open(self.jsonl_path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        return finding

    def clear(self) -> None:
        with self._lock:
            self.items.clear()
            self._by_key.clear()
            self.dropped = 0


_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)[^@\s]*@")


def mask_url(text: str) -> str:
    """Mask the password of any URL in text (`scheme://user:***@host`)."""
    return _PASSWORD.sub(lambda m: m.group("head") + "***@", text)


_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NUMBER_LITERAL = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?![\w])")


def elide_sql(sql: str, limit: int = 500) -> str:
    """SQL with literal values replaced by `?`; bound parameters are never included."""
    text = " ".join(sql.split())
    text = _STRING_LITERAL.sub("?", text)
    text = _NUMBER_LITERAL.sub("?", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
