"""Where a runtime check covers the same mistake as a static rule, the reference app's faulty route
for it is flagged by both halves. The static suite (tests/analyzer/test_fixtures.py) proves every
`# error:` mark and the runtime suite (tests/runtime/test_faulty_routes.py) every `# expect:` mark;
this pins that, for each pair, one route carries both."""
from __future__ import annotations

import os
import re

import libcst as cst
import pytest

from clitools import ROOT

FAULTY = os.path.join(ROOT, "fixtures", "refapp", "bookshop", "faulty.py")
PAIRS = [("SQA401", "SQR401"), ("SQA304", "SQR301"), ("SQA303", "SQR303"), ("SQA502", "SQR502")]


def codes_per_route() -> dict[str, set[str]]:
    with open(FAULTY, encoding="utf-8") as handle:
        text = handle.read()
    lines = text.splitlines()
    module = cst.MetadataWrapper(cst.parse_module(text))
    positions = module.resolve(cst.metadata.PositionProvider)
    out = {}
    for node in module.module.body:
        if isinstance(node, cst.FunctionDef):
            where = positions[node]
            body = "\n".join(lines[where.start.line - 1:where.end.line])
            out[node.name.value] = set(re.findall(r"\b(SQ[AR]\d{3})\b", " ".join(
                m for m in re.findall(r"#\s*(?:error|expect):[^#]*", body))))
    return out


@pytest.mark.parametrize("static,runtime", PAIRS)
def test_one_route_is_flagged_by_both_halves(static, runtime):
    routes = [name for name, codes in codes_per_route().items() if {static, runtime} <= codes]
    assert routes, f"no faulty route is marked for both {static} and {runtime}"
