"""Which codes are on: --select / --ignore / --extend-select with codes, prefixes and ALL (ruff's rules)."""
from __future__ import annotations

import fnmatch
import os
from typing import Iterable, Optional

from .config import ConfigError


def _matches(selector: str, code: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def validate(selectors: Iterable[str], known: Iterable[str], where: str) -> list[str]:
    known = list(known)
    out = []
    for raw in selectors:
        selector = raw.strip().upper()
        if not selector:
            continue
        if not any(_matches(selector, code) for code in known):
            raise ConfigError(f"{where}: unknown rule selector '{raw}'")
        out.append(selector)
    return out


def resolve_selection(all_codes: dict[str, bool], select: Optional[list[str]], extend_select: list[str],
                      ignore: list[str]) -> set[str]:
    """`all_codes` maps code -> on by default. More specific selectors win, as in ruff."""
    chosen = {code for code, default in all_codes.items() if default} if select is None else set()
    for code in all_codes:
        best_on = max((len(s) if s != "ALL" else 0 for s in (select or []) + extend_select if _matches(s, code)),
                      default=-1)
        best_off = max((len(s) if s != "ALL" else 0 for s in ignore if _matches(s, code)), default=-1)
        if best_on > best_off:
            chosen.add(code)
        elif best_off >= 0 and best_off >= best_on:
            chosen.discard(code)
    return chosen


def per_file_ignored(path: str, root: Optional[str], per_file_ignores: dict[str, list[str]]) -> list[str]:
    """The selectors ignored for this file by `per-file-ignores` patterns (glob, relative to the config)."""
    if not per_file_ignores:
        return []
    relative = os.path.relpath(path, root) if root else path
    relative = relative.replace(os.sep, "/")
    name = os.path.basename(path)
    out = []
    for pattern, codes in per_file_ignores.items():
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern) or \
                fnmatch.fnmatch(relative, pattern.rstrip("/") + "/*"):
            out.extend(c.upper() for c in codes)
    return out


def is_ignored(code: str, selectors: list[str]) -> bool:
    return any(_matches(s, code) for s in selectors)
