"""In-process entry points: check source text (rule snippets, editors) without the CLI."""
from __future__ import annotations

from typing import Iterable, Optional

from .catalog import static_rules
from .checker import check_source
from .facts import extract_facts
from .finding import PARSE_ERROR, Finding
from .index import ProjectIndex
from .project import ProjectMeta
from .source import ParseError, parse


def check_files(files: dict[str, str], codes: Optional[Iterable[str]] = None,
                meta: Optional[ProjectMeta] = None) -> list[Finding]:
    """Check several in-memory files as one project; `codes` limits the rules (default: all)."""
    wanted = set(codes) if codes is not None else None
    rules = [r for c, r in static_rules().items() if wanted is None or c in wanted]
    sources, findings = {}, []
    for path, text in files.items():
        result = parse(path, text.encode("utf-8"))
        if isinstance(result, ParseError):
            findings.append(Finding(path, result.line, result.column, result.line, result.column,
                                    PARSE_ERROR, "parse-error", f"cannot parse: {result.message}"))
        else:
            sources[path] = result
    facts = {path: extract_facts(s.module, path) for path, s in sources.items()}
    index = ProjectIndex(facts, meta)
    for path, source in sources.items():
        findings.extend(check_source(source, facts[path], index, rules))
    return sorted(findings, key=lambda f: f.sort_key)


def check_code(code: str, codes: Optional[Iterable[str]] = None, path: str = "/snippet/app.py") -> list[Finding]:
    return check_files({path: code}, codes)
