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
    positions = node_positions(source.module, {id(raw.node) for raw in ctx.raw})
    out: dict[tuple, Finding] = {}
    for raw in ctx.raw:
        where = positions.get(id(raw.node))
        if where is None:
            continue
        line = where.start.line
        if suppressed(text_line(source, line), raw.rule.code):
            continue
        finding = Finding(source.path, line, where.start.column + 1, where.end.line, where.end.column + 1,
                          raw.rule.code, raw.rule.name, raw.message)
        out.setdefault((finding.line, finding.column, finding.code), finding)
    return sorted(out.values(), key=lambda f: f.sort_key)


class _Done(Exception):
    pass


class _Positions(dict):
    """Collects the ranges of the wanted nodes (by id) and stops the code generation after the last."""

    def __init__(self, wanted: set[int], placeholder):
        super().__init__()
        self.wanted = wanted
        self.found: dict[int, object] = {}
        self.done = False
        self.placeholder = placeholder

    def __setitem__(self, node, where) -> None:
        if self.done:
            return
        super().__setitem__(node, where)
        key = id(node)
        if key in self.wanted and key not in self.found:
            self.found[key] = where
            if len(self.found) == len(self.wanted):
                self.done = True
                raise _Done

    def __getitem__(self, node):
        # while _Done unwinds, the provider's `finally` blocks still read their children's ranges
        found = super().get(node)
        if found is None:
            if self.done:
                return self.placeholder
            raise KeyError(node)
        return found


def node_positions(module, wanted: set[int]) -> dict[int, object]:
    """Line/column ranges (libcst's PositionProvider semantics) of the wanted nodes only.

    Positions cost a pass of their own, so a file pays for them only when it has a finding (and
    only then imports libcst.metadata: most one-file runs from pre-commit have none). The pass is
    PositionProvider's own code generation, driven directly: MetadataWrapper.resolve adds a full
    visitor traversal on top (measured: half of its time), and generation stops once the last
    wanted node has its range, so a finding near the top of a file costs little.
    """
    from libcst.metadata import CodePosition, CodeRange, PositionProvider
    provider = PositionProvider()
    computed = provider._computed = _Positions(wanted, CodeRange(CodePosition(1, 0), CodePosition(1, 0)))
    try:
        provider._gen_impl(module)
    except _Done:
        pass
    return computed.found
