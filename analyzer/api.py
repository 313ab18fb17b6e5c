"""In-process entry points: check source text (rule snippets, editors) without the CLI."""
from __future__ import annotations

import os
import re
from typing import Iterable, Optional

from .catalog import static_rules
from .checker import check_source
from .facts import extract_facts
from .finding import PARSE_ERROR, Finding
from .index import ProjectIndex
from .project import MetaResolver, ProjectMeta
from .source import ParseError, parse

# Non-Python files given with the sources are the project's declarations (pyproject, requirements).
_DECLARATION_SUFFIXES = (".toml", ".txt", ".in", ".lock", ".cfg")
# `# file: app/db.py` starts another file of a multi-file snippet (paths relative to the snippet's).
_FILE_MARKER = re.compile(r"^# file: (?P<path>\S+)\s*$")


def _is_declaration(path: str) -> bool:
    name = os.path.basename(path)
    return name.endswith(_DECLARATION_SUFFIXES) or name.startswith("Pipfile")


def check_files(files: dict[str, str], codes: Optional[Iterable[str]] = None,
                meta: Optional[ProjectMeta] = None) -> list[Finding]:
    """Check several in-memory files as one project; `codes` limits the rules (default: all).
    Without `meta`, declarations among `files` (pyproject.toml, requirements*.txt) are the
    dependencies of the project root they sit in."""
    wanted = set(codes) if codes is not None else None
    rules = [r for c, r in static_rules().items() if wanted is None or c in wanted]
    sources, findings = {}, []
    for path, text in files.items():
        if _is_declaration(path):
            continue
        result = parse(path, text.encode("utf-8"))
        if isinstance(result, ParseError):
            findings.append(Finding(path, result.line, result.column, result.line, result.column,
                                    PARSE_ERROR, "parse-error", f"cannot parse: {result.message}"))
        else:
            sources[path] = result
    facts = {path: extract_facts(s.module, path) for path, s in sources.items()}
    index = ProjectIndex(facts, meta, None if meta is not None else MetaResolver(files))
    for path, source in sources.items():
        findings.extend(check_source(source, facts[path], index, rules))
    return sorted(findings, key=lambda f: f.sort_key)


def split_snippet(code: str, path: str = "/snippet/app.py") -> dict[str, str]:
    """A snippet with `# file: <relative path>` lines as several files. Each file is padded with
    blank lines so that its line numbers are the snippet's (the `# error:` comments stay right)."""
    lines = code.splitlines(keepends=True)
    base = os.path.dirname(path)
    files: dict[str, str] = {}
    current, start, chunk = path, 0, []
    for number, line in enumerate(lines):
        match = _FILE_MARKER.match(line)
        if match is None:
            chunk.append(line)
            continue
        if current != path or "".join(chunk).strip():
            files[current] = "\n" * start + "".join(chunk)
        current, start, chunk = os.path.normpath(os.path.join(base, match.group("path"))), number + 1, []
    files[current] = "\n" * start + "".join(chunk)
    return files


def check_code(code: str, codes: Optional[Iterable[str]] = None, path: str = "/snippet/app.py") -> list[Finding]:
    return check_files(split_snippet(code, path), codes)
