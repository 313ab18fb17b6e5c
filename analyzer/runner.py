"""A whole scan: discover files, parse each once, build the project index, check every file."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from .catalog import static_rules
from .checker import check_source
from .config import Config
from .discovery import discover
from .facts import extract_facts
from .finding import PARSE_ERROR, Finding
from .index import ProjectIndex
from .project import MetaResolver, load_project_meta
from .selection import per_file_ignored
from .source import ParseError, Source, parse, read_bytes, text_line


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    lines: dict[tuple[str, int], str] = field(default_factory=dict)  # source text of reported lines
    files_scanned: int = 0
    files_failed: int = 0


def run(paths: list[str], config: Config, selected: set[str], project_root: Optional[str] = None,
        force_exclude: bool = False, jobs: Optional[int] = None, use_cache: bool = True) -> Report:
    report = Report()
    files = list(discover(paths, config.exclude, config.root, force_exclude))
    rules = [rule for code, rule in static_rules().items() if code in selected]
    sources: dict[str, Source] = {}
    for path in files:
        data = read_bytes(path)
        result = parse(path, data) if isinstance(data, bytes) else data
        if isinstance(result, ParseError):
            report.files_failed += 1
            report.findings.append(Finding(result.path, result.line, result.column, result.line, result.column,
                                           PARSE_ERROR, "parse-error", f"cannot parse: {result.message}"))
            continue
        sources[path] = result
    facts = {path: extract_facts(source.module, path) for path, source in sources.items()}
    index = ProjectIndex(facts, load_project_meta(project_root), MetaResolver())
    for path, source in sources.items():
        ignores = per_file_ignored(path, config.root, config.per_file_ignores)
        found = check_source(source, facts[path], index, rules, ignores)
        for finding in found:
            report.lines[(finding.path, finding.line)] = text_line(source, finding.line)
        report.findings.extend(found)
    report.files_scanned = len(sources)
    report.findings.sort(key=lambda f: f.sort_key)
    return report


def display_path(path: str, cwd: Optional[str] = None) -> str:
    relative = os.path.relpath(path, cwd or os.getcwd())
    return path if relative.startswith("..") else relative
