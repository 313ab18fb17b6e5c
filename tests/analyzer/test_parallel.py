"""Worker processes, the cache and the pre-filter change how a scan runs, never what it finds:
the same findings on fixtures/ whichever way it runs."""
from __future__ import annotations

import shutil

import pytest

from perf_helpers import copy_fixtures, scan

POOL = {"SQLAGUARD_PARALLEL_MIN_BYTES": "0"}  # fixtures are tiny: make -j2 really fork workers


@pytest.fixture(scope="module")
def fixtures_copy(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fixtures-copy"))
    copy_fixtures(root)
    return root


@pytest.fixture(scope="module")
def reference(fixtures_copy):
    found, stats, _ = scan(fixtures_copy, "--no-cache", "-j", "1", env={"SQLAGUARD_NO_PREFILTER": "1"})
    assert found, "fixtures/ has findings"
    assert stats["workers"] == 1
    return found


def test_two_workers_find_the_same(fixtures_copy, reference):
    found, stats, _ = scan(fixtures_copy, "--no-cache", "-j", "2", env=POOL)
    assert stats["workers"] == 2
    assert found == reference


def test_prefilter_finds_the_same(fixtures_copy, reference):
    found, _, _ = scan(fixtures_copy, "--no-cache", "-j", "1")
    assert found == reference


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cold_and_warm_cache_find_the_same(fixtures_copy, reference, jobs):
    shutil.rmtree(f"{fixtures_copy}/.sqlaguard_cache", ignore_errors=True)
    cold, stats, _ = scan(fixtures_copy, "-j", jobs, env=POOL)
    assert cold == reference and stats["workers"] == int(jobs)
    warm, stats, _ = scan(fixtures_copy, "-j", jobs, env=POOL)
    assert warm == reference and stats["parsed"] == 0
