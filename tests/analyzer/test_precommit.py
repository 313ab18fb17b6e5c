"""A real pre-commit run: the hook this repository publishes, and the project's own local hook."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from clitools import ROOT

BAD = textwrap.dedent("""\
    from sqlalchemy.ext.asyncio import AsyncSession


    async def list_users(db: AsyncSession):
        return db.query(User).all()
""")
GOOD = BAD.replace("return db.query(User).all()", "return (await db.execute(select(User))).scalars().all()")

PRE_COMMIT = [sys.executable, "-m", "pre_commit"]


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})


@pytest.fixture
def env(tmp_path):
    # the local hook runs the `sqlaguard` installed beside this interpreter
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return {**os.environ, "PATH": path, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PRE_COMMIT_COLOR": "never"}


def test_try_repo_fails_on_bad_file_and_passes_on_good(tmp_path, env):
    """`pre-commit try-repo <this checkout> sqlaguard` installs the hook from .pre-commit-hooks.yaml."""
    user = tmp_path / "user-repo"
    user.mkdir()
    git(user, "init", "-q")
    (user / "bad.py").write_text(BAD)
    (user / "good.py").write_text(GOOD)
    git(user, "add", ".")
    bad = subprocess.run(PRE_COMMIT + ["try-repo", ROOT, "sqlaguard", "--files", "bad.py"], cwd=user,
                         capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "bad.py:5:12: SQA201" in bad.stdout
    good = subprocess.run(PRE_COMMIT + ["try-repo", ROOT, "sqlaguard", "--files", "good.py"], cwd=user,
                          capture_output=True, text=True, env=env, timeout=600)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout


def test_project_own_hook_passes_on_the_project(tmp_path, env):
    """The project's .pre-commit-config.yaml (repo: local) on a copy of the tracked tree."""
    copy = tmp_path / "checkout"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, files):
        source = os.path.join(ROOT, name)
        if os.path.isfile(source):
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(copy, "init", "-q")
    git(copy, "add", ".")
    proc = subprocess.run(PRE_COMMIT + ["run", "sqlaguard", "--all-files"], cwd=copy, capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sqlaguard" in proc.stdout and "Passed" in proc.stdout
