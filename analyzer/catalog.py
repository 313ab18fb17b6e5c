"""All codes, static and runtime, for selection, `sqlaguard rules` and `sqlaguard explain`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlaguard.runtime.codes import RUNTIME_CHECKS

from .finding import PARSE_ERROR
from .rule import Rule
from .rules import RULES


@dataclass(frozen=True)
class Entry:
    code: str
    name: str
    summary: str
    default: bool
    kind: str  # "static" | "runtime"
    rule: Optional[type[Rule]] = None
    explain: str = ""


def static_rules() -> dict[str, type[Rule]]:
    return {rule.code: rule for rule in sorted(RULES, key=lambda r: r.code)}


def entries() -> list[Entry]:
    out = [Entry(r.code, r.name, r.message, r.default, "static", r, r.explain) for r in static_rules().values()]
    out += [Entry(c.code, c.name, c.summary, c.default, "runtime", None, c.explain) for c in RUNTIME_CHECKS]
    return out


def lookup(code: str) -> Optional[Entry]:
    code = code.strip().upper()
    for entry in entries():
        if entry.code == code or entry.name == code.lower():
            return entry
    return None


def explain_text(entry: Entry) -> str:
    parts = [f"{entry.code} ({entry.name}) — {entry.kind} check, {'on' if entry.default else 'off'} by default",
             "", entry.explain.strip()]
    if entry.rule is not None:
        if entry.rule.invalid:
            parts += ["", "Example (flagged):", "", _indent(entry.rule.invalid[0])]
        if entry.rule.valid:
            parts += ["", "Instead:", "", _indent(entry.rule.valid[0])]
    return "\n".join(parts) + "\n"


def _indent(code: str) -> str:
    return "\n".join("    " + line if line else "" for line in code.strip("\n").splitlines())


__all__ = ["Entry", "entries", "lookup", "explain_text", "static_rules", "PARSE_ERROR"]
