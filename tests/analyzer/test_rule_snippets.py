"""Every rule's own valid and invalid snippets (the ones `sqlaguard explain` prints)."""
from __future__ import annotations

import pytest

from expectations import expected_in_text
from sqlaguard.analyzer.api import check_code
from sqlaguard.analyzer.catalog import static_rules

RULES = list(static_rules().values())
CASES = [(r, "valid", i, s) for r in RULES for i, s in enumerate(r.valid)] + \
        [(r, "invalid", i, s) for r in RULES for i, s in enumerate(r.invalid)]


@pytest.mark.parametrize("rule,kind,number,snippet", CASES,
                         ids=[f"{r.code}-{k}-{i}" for r, k, i, _ in CASES])
def test_snippet(rule, kind, number, snippet):
    expected = {(line, code) for line, code in expected_in_text(snippet) if code == rule.code}
    found = {(f.line, f.code) for f in check_code(snippet, [rule.code])}
    assert found == expected
    if kind == "invalid":
        assert expected, "an invalid snippet must mark at least one `# error:` line"


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_rule_is_documented(rule):
    assert rule.code.startswith("SQA") and len(rule.code) == 6
    assert rule.name and rule.name == rule.name.lower() and " " not in rule.name
    assert rule.message and rule.explain
    for part in ("What it does", "Why it breaks", "Instead"):
        assert part in rule.explain, f"{rule.code} explain text lacks '{part}'"
    assert len(rule.invalid) >= 3 and len(rule.valid) >= 3, "at least three bad and three good snippets"
