"""pytest plugin: run tests under sqlaguard's runtime checker and fail them on a finding.

Loaded by every pytest run (entry point `pytest11`), so it imports nothing beyond pytest
until enabled, and does nothing for a test that has not asked for it. Enable it with
`--sqlaguard` (every test that provides the fixtures below), `@pytest.mark.sqlaguard(**options)`
on a test or module, or by requesting the `sqlaguard` fixture (which yields the Monitor).

The project provides two fixtures: `sqlaguard_app` (the FastAPI/Starlette app) and
`sqlaguard_engine` (its AsyncEngine, or a list of them).
"""
from __future__ import annotations

import pytest

_MONITOR = pytest.StashKey[object]()
_ONLY_BY_OPTION = pytest.StashKey[bool]()  # added by a bare --sqlaguard, not asked for by the test
_OPTION_FIXTURES = ("sqlaguard_app", "sqlaguard_engine")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sqlaguard", "sqlaguard runtime checker")
    group.addoption("--sqlaguard", action="store_true", default=False,
                    help="run every test that provides sqlaguard_app/sqlaguard_engine under the runtime checker "
                         "and fail it on a finding")
    group.addoption("--sqlaguard-select", default=None, metavar="CODES",
                    help="only these runtime codes (comma separated, e.g. SQR401,SQR303)")
    group.addoption("--sqlaguard-ignore", default=None, metavar="CODES", help="skip these runtime codes")
    group.addoption("--sqlaguard-block-ms", default=None, type=float, metavar="MS",
                    help="SQR501 loop-stall threshold (default 100)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlaguard(**options): run this test under sqlaguard's runtime checker (options as for "
        "sqlaguard.runtime.install) and fail it on a finding",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    enabled_everywhere = config.getoption("--sqlaguard")
    for item in items:
        fixturenames = getattr(item, "fixturenames", None)
        if fixturenames is None or "sqlaguard" in fixturenames:
            continue
        marked = item.get_closest_marker("sqlaguard") is not None
        if enabled_everywhere or marked:
            fixturenames.append("sqlaguard")
            item.stash[_ONLY_BY_OPTION] = not marked


def _options(request: pytest.FixtureRequest) -> dict:
    config = request.config
    options: dict = {}
    if config.getoption("--sqlaguard-select"):
        options["select"] = config.getoption("--sqlaguard-select")
    if config.getoption("--sqlaguard-ignore"):
        options["ignore"] = config.getoption("--sqlaguard-ignore")
    if config.getoption("--sqlaguard-block-ms") is not None:
        options["block_threshold_ms"] = config.getoption("--sqlaguard-block-ms")
    marker = request.node.get_closest_marker("sqlaguard")
    if marker is not None:
        options.update(marker.kwargs)
    return options


@pytest.fixture
def sqlaguard(request: pytest.FixtureRequest):
    """The sqlaguard Monitor installed on `sqlaguard_app` for this test (None when not provided
    under a bare --sqlaguard)."""
    explicit = not request.node.stash.get(_ONLY_BY_OPTION, False)
    try:
        app = request.getfixturevalue("sqlaguard_app")
        engine = request.getfixturevalue("sqlaguard_engine")
    except pytest.FixtureLookupError:
        if not explicit:
            yield None  # --sqlaguard on a test without an app: nothing to watch
            return
        raise
    from sqlaguard.runtime import install

    monitor = install(app, engine, **_options(request))
    request.node.stash[_MONITOR] = monitor
    try:
        yield monitor
    finally:
        monitor.uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    result = yield
    monitor = item.stash.get(_MONITOR, None)
    if monitor is not None and monitor.findings:  # type: ignore[attr-defined]
        findings = monitor.findings  # type: ignore[attr-defined]
        pytest.fail(f"sqlaguard: {len(findings)} runtime finding(s)\n{monitor.report_text()}",  # type: ignore
                    pytrace=False)
    return result
