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
FORMATS = ("text", "json", "sarif", "github")


@pytest.fixture(scope="module")
def fixture_outputs():
    return {fmt: run_cli("check", FIXTURE, "--select", "SQA102", "--format", fmt, "--no-cache", check_exit=1).stdout
            for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_fixture_passwords_never_printed(fixture_outputs, fmt):
    out = fixture_outputs[fmt]
    assert "SQA102" in out
    for password in FIXTURE_PASSWORDS:
        assert password not in out


def test_fixture_findings_are_reported(fixture_outputs):
    findings = json.loads(fixture_outputs["json"])
    assert len([f for f in findings if f["code"] == "SQA102"]) >= 5
    # the quoted source line of the inline URL is shown, masked
    assert "mysql+pymysql://worker:***@mysql.internal/jobs" in fixture_outputs["text"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_awkward_passwords_never_printed(tmp_path, fmt):
    """Passwords with '/', ':' and quotes-free punctuation, in the URL and as a URL.create argument."""
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent("""\
        from sqlalchemy.engine import URL
        from sqlalchemy.ext.asyncio import create_async_engine

        a = create_async_engine("postgresql+psycopg2://ops:pa/ss:w0rd!x@db.internal/ops")
        b = create_async_engine("sqlite:///./x.db?password=Qu3ryPw")
        c = create_async_engine(URL.create("mysql+pymysql", username="u", password="Kw4rgPw", host="h"))
    """))
    proc = run_cli("check", str(app), "--select", "SQA102", "--format", fmt, "--no-cache", check_exit=1)
    assert proc.stdout.count("SQA102") >= (3 if fmt != "sarif" else 1)
    for secret in ("pa/ss:w0rd!x", "w0rd", "Qu3ryPw", "Kw4rgPw"):
        assert secret not in proc.stdout
