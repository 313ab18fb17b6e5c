"""Running the rules over one parsed file: one walk, positions only where something was found."""
from __future__ import annotations

from typing import Iterable, Optional

from .context import FileContext, Walker
from .facts import ModuleFacts
from .finding import Finding
from .index import ProjectIndex
from .noqa import suppressed
from .rule import Rule
from .selection import is_ignored
from .source import Source, text_line


def check_source(source: Source, facts: ModuleFacts, index: ProjectIndex, rules: Iterable[type[Rule]],
                 file_ignores: Optional[list[str]] = None) -> list[Finding]:
    ctx = FileContext(source.path, source.module, facts, index)
    instances = [rule(ctx) for rule in rules if not (file_ignores and is_ignored(rule.code, file_ignores))]
    if not instances:
        return []
    Walker(ctx, instances).walk(source.module)
    if not ctx.raw:
        return []
    # Positions cost a pass of their own: pay for them only in files that have a finding (and
    # libcst.metadata's import too: most one-file runs from pre-commit have no finding).
    from libcst.metadata import MetadataWrapper, PositionProvider
    positions = MetadataWrapper(source.module, unsafe_skip_copy=True).resolve(PositionProvider)
    out: dict[tuple, Finding] = {}
    for raw in ctx.raw:
        where = positions.get(raw.node)
        if where is None:
            continue
        line = where.start.line
        if suppressed(text_line(source, line), raw.rule.code):
            continue
        finding = Finding(source.path, line, where.start.column + 1, where.end.line, where.end.column + 1,
                          raw.rule.code, raw.rule.name, raw.message)
        out.setdefault((finding.line, finding.column, finding.code), finding)
    return sorted(out.values(), key=lambda f: f.sort_key)
