"""The real CLI on every fixture: the complete set of (file, line, code) must equal the `# error:`
comments, so a false positive fails exactly like a miss."""
from __future__ import annotations

import json
import os

import pytest

from clitools import ROOT, run_cli
from expectations import expected_in_tree

FIXTURES = os.path.join(ROOT, "fixtures")
TREES = [name for name in ("analyzer", "refapp") if os.path.isdir(os.path.join(FIXTURES, name))]


@pytest.fixture(scope="module")
def findings_by_tree():
    out = {}
    for tree in TREES:
        proc = run_cli("check", os.path.join("fixtures", tree), "--select", "ALL", "--format", "json",
                       "--no-cache", "--exit-zero")
        assert proc.returncode == 0, proc.stderr
        out[tree] = json.loads(proc.stdout)
    return out


@pytest.mark.parametrize("tree", TREES)
def test_findings_match_expectations(tree, findings_by_tree):
    base = os.path.join("fixtures", tree)
    found = {(os.path.relpath(f["path"], base), f["line"], f["code"]) for f in findings_by_tree[tree]}
    expected = expected_in_tree(os.path.join(FIXTURES, tree))
    false_positives = sorted(found - expected)
    misses = sorted(expected - found)
    assert not false_positives and not misses, f"false positives: {false_positives}\nmisses: {misses}"


def test_every_rule_has_fixtures():
    """At least three bad cases per static rule in the fixtures."""
    from sqlaguard.analyzer.catalog import static_rules
    expected = expected_in_tree(FIXTURES)
    for code in static_rules():
        count = sum(1 for _, _, c in expected if c == code)
        assert count >= 3, f"{code} has {count} bad cases in fixtures/"
