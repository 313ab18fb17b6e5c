"""SQA102 reports URLs that carry credentials: no output format may print a password, neither in
the message nor in the quoted source line."""
from __future__ import annotations

import json
import os
import textwrap

import pytest

from clitools import run_cli

FIXTURE = os.path.join("fixtures", "analyzer", "sqa102")
FIXTURE_PASSWORDS = ("S3cretPassw0rd", "An4lyticsPw", "W0rkerPw")
# Passwords holding '/' and ':', in a query string, and as a URL.create keyword argument.
AWKWARD = textwrap.dedent("""\
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import create_async_engine

    a = create_async_engine("postgresql+psycopg2://ops:pa/ss:w0rd!x@db.internal/ops")
    b = create_async_engine("sqlite:///./x.db?password=Qu3ryPw")
    c = create_async_engine(URL.create("mysql+pymysql", username="u", password="Kw4rgPw", host="h"))
""")
AWKWARD_SECRETS = ("pa/ss:w0rd!x", "w0rd", "Qu3ryPw", "Kw4rgPw")
FORMATS = ("text", "json", "sarif", "github")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    awkward = tmp_path_factory.mktemp("awkward") / "engines.py"
    awkward.write_text(AWKWARD)
    return {fmt: run_cli("check", FIXTURE, str(awkward), "--select", "SQA102", "--format", fmt, "--no-cache",
                         check_exit=1).stdout
            for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_passwords_never_printed(outputs, fmt):
    out = outputs[fmt]
    assert "SQA102" in out
    for secret in FIXTURE_PASSWORDS + AWKWARD_SECRETS:
        assert secret not in out


def test_findings_are_reported(outputs):
    findings = json.loads(outputs["json"])
    by_file = {}
    for f in findings:
        by_file.setdefault(os.path.basename(f["path"]), []).append(f["line"])
    assert sorted(by_file["engines.py"]) == [4, 5, 6]
    assert len([f for f in findings if f["code"] == "SQA102"]) >= 8
    # the quoted source lines are shown, masked
    text = outputs["text"]
    assert "mysql+pymysql://worker:***@mysql.internal/jobs" in text
    assert "postgresql+psycopg2://ops:***@db.internal/ops" in text
    assert 'password="***"' in text and "?password=***" in text
    sarif = json.loads(outputs["sarif"])
    assert len(sarif["runs"][0]["results"]) == len(findings)
