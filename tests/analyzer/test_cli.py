"""The command line as a user runs it: exit codes, formats, selection, configuration, noqa, bad input."""
from __future__ import annotations

import json
import os
import textwrap

import jsonschema
import pytest

from clitools import ROOT, run_cli

BAD = textwrap.dedent("""\
    from sqlalchemy.ext.asyncio import AsyncSession


    async def list_users(db: AsyncSession):
        return db.query(User).all()
""")
GOOD = textwrap.dedent("""\
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import AsyncSession


    async def list_users(db: AsyncSession):
        return (await db.execute(select(User))).scalars().all()
""")


def write(tmp_path, name, text, mode="w"):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_exit_codes_and_text_output(tmp_path):
    write(tmp_path, "bad.py", BAD)
    proc = run_cli("check", ".", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("bad.py:5:12: SQA201 ")
    assert lines[1].strip() == "return db.query(User).all()"
    assert lines[2].index("^") == lines[1].index("db.query")  # the caret stands under the call
    assert lines[-1] == "Found 1 error."
    (tmp_path / "bad.py").write_text(GOOD)
    proc = run_cli("check", ".", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "All checks passed!"


def test_default_path_is_current_directory_and_exit_zero(tmp_path):
    write(tmp_path, "pkg/bad.py", BAD)
    proc = run_cli("check", "--exit-zero", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 0 and "pkg/bad.py:5:12: SQA201" in proc.stdout


def test_usage_errors_exit_2(tmp_path):
    assert run_cli("check", "missing_dir", cwd=tmp_path).returncode == 2
    proc = run_cli("check", ".", "--select", "XYZ9", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown rule selector 'XYZ9'" in proc.stderr
    assert run_cli("check", "--format", "xml", cwd=tmp_path).returncode == 2
    assert run_cli("explain", "SQA999", cwd=tmp_path).returncode == 2


def test_json_format(tmp_path):
    write(tmp_path, "bad.py", BAD)
    items = json.loads(run_cli("check", ".", "--format", "json", "--no-cache", cwd=tmp_path).stdout)
    assert items == [{
        "path": "bad.py", "line": 5, "column": 12, "end_line": 5, "end_column": 26, "code": "SQA201",
        "name": "query-on-async-session", "message": items[0]["message"],
    }]
    assert "query" in items[0]["message"]


def test_sarif_format_is_valid(tmp_path):
    write(tmp_path, "bad.py", BAD)
    proc = run_cli("check", ".", "--format", "sarif", "--no-cache", cwd=tmp_path)
    document = json.loads(proc.stdout)
    with open(os.path.join(ROOT, "tests", "data", "sarif-2.1.0-required.json")) as handle:
        jsonschema.validate(document, json.load(handle))
    run = document["runs"][0]
    result = run["results"][0]
    assert result["ruleId"] == "SQA201"
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "SQA201"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (5, 12)


def test_github_format(tmp_path):
    write(tmp_path, "bad.py", BAD)
    out = run_cli("check", ".", "--format", "github", "--no-cache", cwd=tmp_path).stdout
    assert out.startswith("::error title=sqlaguard (SQA201),file=bad.py,line=5,col=12,endLine=5,endColumn=26::SQA201 ")


def test_statistics_and_quiet(tmp_path):
    write(tmp_path, "a.py", BAD)
    write(tmp_path, "b.py", BAD)
    proc = run_cli("check", ".", "--statistics", "--no-cache", cwd=tmp_path)
    assert proc.stdout.split() == ["2", "SQA201", "query-on-async-session"]
    quiet = run_cli("check", ".", "-q", "--no-cache", cwd=tmp_path).stdout.splitlines()
    assert [line.split(":")[0] for line in quiet] == ["a.py", "b.py"]


@pytest.mark.parametrize("args,expected", [
    (["--select", "SQA201"], 1),
    (["--select", "SQA2"], 1),
    (["--select", "ALL"], 1),
    (["--ignore", "SQA201"], 0),
    (["--ignore", "SQA2"], 0),
    (["--select", "SQA1"], 0),
    (["--select", "SQA1", "--extend-select", "SQA201"], 1),
    (["--select", "ALL", "--ignore", "SQA201"], 0),
])
def test_selection(tmp_path, args, expected):
    write(tmp_path, "bad.py", BAD)
    proc = run_cli("check", ".", "--no-cache", *args, cwd=tmp_path)
    assert proc.returncode == expected, proc.stdout + proc.stderr


def test_pyproject_configuration(tmp_path):
    write(tmp_path, "app/bad.py", BAD)
    write(tmp_path, "legacy/old.py", BAD)
    write(tmp_path, "tests/test_x.py", BAD)
    write(tmp_path, "pyproject.toml", textwrap.dedent("""\
        [tool.sqlaguard]
        exclude = ["legacy"]
        per-file-ignores = {"tests/*" = ["SQA2"]}
    """))
    proc = run_cli("check", "--no-cache", "-q", cwd=tmp_path)
    assert proc.stdout.splitlines() == [line for line in proc.stdout.splitlines() if line.startswith("app/bad.py")]
    assert proc.returncode == 1 and proc.stdout.count("SQA201") == 1
    # found from a sub-directory too: the nearest pyproject.toml upwards
    assert run_cli("check", ".", "--no-cache", cwd=tmp_path / "tests").returncode == 0
    write(tmp_path, "pyproject.toml", '[tool.sqlaguard]\nignore = ["SQA201"]\n')
    assert run_cli("check", "--no-cache", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("table,needle", [
    ('[tool.sqlaguard]\nselct = ["SQA2"]\n', "unknown option 'selct'"),
    ('[tool.sqlaguard]\nselect = "SQA2"\n', "option 'select' must be a list"),
    ('[tool.sqlaguard]\nignore = ["NOPE1"]\n', "unknown rule selector 'NOPE1'"),
    ('[tool.sqlaguard\n', "invalid TOML"),
])
def test_bad_configuration_is_named_with_its_file(tmp_path, table, needle):
    write(tmp_path, "bad.py", BAD)
    config = write(tmp_path, "pyproject.toml", table)
    proc = run_cli("check", ".", "--config", str(config), cwd=tmp_path)
    assert proc.returncode == 2
    assert needle in proc.stderr and str(config) in proc.stderr


def test_noqa(tmp_path):
    text = BAD.replace("db.query(User).all()", "db.query(User).all()  # noqa: SQA201")
    write(tmp_path, "a.py", text)
    write(tmp_path, "b.py", BAD.replace("db.query(User).all()", "db.query(User).all()  # noqa"))
    write(tmp_path, "c.py", BAD.replace("db.query(User).all()", "db.query(User).all()  # noqa: SQA202"))
    write(tmp_path, "d.py", BAD.replace("db.query(User).all()", "db.query(User).all()  # NOQA:SQA2"))
    out = run_cli("check", ".", "-q", "--no-cache", cwd=tmp_path).stdout
    assert [line.split(":")[0] for line in out.splitlines()] == ["c.py"]


def test_unparsable_file_is_named_and_the_rest_still_scanned(tmp_path):
    write(tmp_path, "a_broken.py", "def f(:\n    pass\n")
    write(tmp_path, "b_bad.py", BAD)
    write(tmp_path, "c_latin1.py", b"x = '\xff\xfe'\n", mode="wb")
    proc = run_cli("check", ".", "--select", "SQA1", "-q", "--no-cache", cwd=tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("a_broken.py:") and "SQA000 cannot parse" in lines[0]
    assert lines[1].startswith("c_latin1.py:1:1: SQA000 cannot parse")
    assert proc.returncode == 1
    proc = run_cli("check", ".", "--select", "SQA2", "-q", "--no-cache", cwd=tmp_path)
    assert any(line.startswith("b_bad.py:5:12: SQA201") for line in proc.stdout.splitlines())


def test_nothing_scannable_exits_2(tmp_path):
    write(tmp_path, "broken.py", "class :\n")
    proc = run_cli("check", "broken.py", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 2 and "broken.py:1:" in proc.stdout and "no file could be scanned" in proc.stderr


def test_odd_but_valid_files(tmp_path):
    write(tmp_path, "empty.py", "")
    write(tmp_path, "bom_crlf.py", b"\xef\xbb\xbf" + BAD.replace("\n", "\r\n").encode(), mode="wb")
    write(tmp_path, "latin1.py", b"# -*- coding: latin-1 -*-\n" + BAD.encode() + b"name = '\xe9'\n", mode="wb")
    write(tmp_path, "modern.py", textwrap.dedent("""\
        type UserId = int

        def first[T](items: list[T]) -> T:
            match items:
                case [x, *_]:
                    return x
        """))
    proc = run_cli("check", ".", "-q", "--no-cache", cwd=tmp_path)
    assert sorted(proc.stdout.splitlines()) == sorted([
        "bom_crlf.py:5:12: SQA201 " + proc.stdout.split("SQA201 ", 1)[1].splitlines()[0],
        "latin1.py:6:12: SQA201 " + proc.stdout.split("SQA201 ", 1)[1].splitlines()[0],
    ])


def test_rules_and_explain():
    out = run_cli("rules").stdout
    for code in ("SQA201", "SQR501", "SQR401"):
        assert code in out
    text = run_cli("explain", "SQA201").stdout
    assert "'AsyncSession' object has no attribute 'query'" in text
    assert "Example (flagged):" in text and "Instead:" in text
    assert "loop" in run_cli("explain", "sqr501").stdout


def test_project_is_clean():
    proc = run_cli("check", "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rule_docs_are_generated_from_the_rules():
    with open(os.path.join(ROOT, "docs", "rules.md"), encoding="utf-8") as handle:
        committed = handle.read()
    assert committed == run_cli("rules", "--markdown").stdout, \
        "docs/rules.md is stale: regenerate with `sqlaguard rules --markdown > docs/rules.md`"
