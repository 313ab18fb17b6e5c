"""Engine and driver rules (SQA101-SQA106) through the real CLI on throwaway projects."""
from __future__ import annotations

import json

from clitools import run_cli
from sqlaguard.analyzer.catalog import static_rules


def findings(*args):
    proc = run_cli("check", *args, "--format", "json", "--no-cache", "--exit-zero")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_summaries_are_sentences_not_templates():
    for code, rule in static_rules().items():
        assert "{}" not in rule.message, code


def test_sqa106_follows_the_declarations_of_each_project(tmp_path):
    shop, blog = tmp_path / "shop", tmp_path / "blog"
    for project in (shop, blog):
        (project / "app").mkdir(parents=True)
        (project / "app" / "b_db.py").write_text("from sqlalchemy.ext.asyncio import create_async_engine\n")
        (project / "app" / "a_models.py").write_text(
            "import os\nfrom sqlalchemy.ext.asyncio import AsyncAttrs\n")
    (shop / "requirements.txt").write_text("fastapi\nsqlalchemy>=2.1\n")
    (blog / "requirements.txt").write_text("fastapi\nsqlalchemy[asyncio]>=2.1\n")

    found = findings(str(tmp_path), "--select", "SQA106")
    # once per project, at the first import in path order; the project that declares the extra is clean
    assert [(f["path"].replace("\\", "/").split("/")[-3:], f["line"]) for f in found] == \
        [(["shop", "app", "a_models.py"], 2)]
    assert "requirements.txt" in found[0]["message"]

    (shop / "requirements.txt").write_text("fastapi\nsqlalchemy>=2.1\ngreenlet>=3\n")
    assert findings(str(tmp_path), "--select", "SQA106") == []


def test_sqa101_needs_async_use_of_the_engine(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["sqlalchemy[asyncio]"]\n')
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "db.py").write_text(
        "from sqlalchemy import create_engine\n"
        "from sqlalchemy.orm import sessionmaker\n\n"
        "engine = create_engine('sqlite:///./x.db')\n"
        "SessionLocal = sessionmaker(bind=engine)\n")
    (app / "cli.py").write_text(
        "from app.db import SessionLocal\n\n\n"
        "def main():\n"
        "    with SessionLocal() as session:\n"
        "        session.commit()\n")
    assert findings(str(tmp_path), "--select", "SQA101") == []

    (app / "jobs.py").write_text(
        "from app.db import SessionLocal\n\n\n"
        "async def job():\n"
        "    with SessionLocal() as session:\n"
        "        session.commit()\n")
    found = findings(str(tmp_path), "--select", "SQA101")
    assert [(f["path"].replace("\\", "/").split("/")[-1], f["line"]) for f in found] == [("db.py", 4)]
    assert "`engine` is used from async code" in found[0]["message"]
