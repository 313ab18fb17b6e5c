"""Kind evaluation does each inner value once per evaluation. Without that, mutually recursive
project functions made it exponential: asking the kind of every call in fastapi's own sources never
finished. Counted, not timed; fastapi (a dev dependency) is a realistic, recursive input."""
from __future__ import annotations

import glob
import os

import fastapi
import libcst as cst

from sqlaguard.analyzer.facts import ClassInfo, FuncInfo, extract_facts
from sqlaguard.analyzer.index import ProjectIndex
from sqlaguard.analyzer.values import Call


class CountingIndex(ProjectIndex):
    evaluations = 0

    def _kind(self, value, depth):
        CountingIndex.evaluations += 1
        assert CountingIndex.evaluations < 100_000, "kind evaluation ran away"
        return super()._kind(value, depth)


def test_kind_of_every_call_in_a_recursive_project_is_bounded():
    root = os.path.dirname(fastapi.__file__)
    paths = glob.glob(os.path.join(root, "**", "*.py"), recursive=True)
    facts = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            facts[path] = extract_facts(cst.parse_module(handle.read()), path)
    index = CountingIndex(facts)
    CountingIndex.evaluations = 0
    asked = 0
    for module in facts.values():
        for symbol in module.symbols.values():
            functions = [symbol] if isinstance(symbol, FuncInfo) else \
                list(symbol.methods.values()) if isinstance(symbol, ClassInfo) else []
            for function in functions:
                for callee in function.calls:
                    index.kind(Call(callee))
                    asked += 1
    assert asked > 500  # the input really is a sizeable project
    assert CountingIndex.evaluations < 20 * asked, (CountingIndex.evaluations, asked)
