"""Build the benchmark corpus: real Python copied from installed packages.

The corpus is copied (never symlinked) to a directory outside the repository, so that no
tool picks up the repository's own configuration, and so that the "one file changed" case
can edit a file without touching site-packages.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Async web / database stack first: that is the code sqlaguard is written for. sqlalchemy
# alone is ~250k lines, which is what lets the full corpus pass 300k lines.
FULL_PACKAGES = (
    "sqlalchemy",
    "fastapi",
    "starlette",
    "pydantic",
    "httpx",
    "httpcore",
    "anyio",
    "uvicorn",
    "asyncpg",
    "aiosqlite",
)
QUICK_PACKAGES = ("fastapi", "starlette", "httpx")

# The test suite's reference app and the fixtures users' code looks like; included when the
# repository has them (they are written alongside the analyzer).
REPO_DIRS = ("tests", "fixtures")

FULL_MIN_LINES = 300_000
# A changed file of about this size stands for a typical application module in pre-commit.
CHANGED_FILE_TARGET_LINES = 200


@dataclass
class Corpus:
    root: Path
    files: list[Path]  # relative to root, sorted
    lines: int
    per_source: dict[str, tuple[int, int]]  # source -> (files, lines)
    versions: dict[str, str]
    skipped: list[str] = field(default_factory=list)  # files that do not parse
    digest: str = ""

    def file_lines(self, rel: Path) -> int:
        return count_lines((self.root / rel).read_bytes())


def count_lines(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name!r} is not installed (pip install -e '.[dev,bench]')")
    return Path(list(spec.submodule_search_locations)[0])


def dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def parses(data: bytes) -> bool:
    # Files that are not valid Python for this interpreter would make every tool report a
    # syntax error instead of doing its normal work; they are left out and counted.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(data)
        return True
    except (SyntaxError, ValueError):
        return False


def _sources(packages: tuple[str, ...], include_repo: bool) -> list[tuple[str, Path]]:
    sources = [(name, package_dir(name)) for name in packages]
    if include_repo:
        for d in REPO_DIRS:
            if (REPO_ROOT / d).is_dir():
                sources.append((f"_sqlaguard_repo/{d}", REPO_ROOT / d))
    return sources


def build(dest: Path, quick: bool, include_repo: bool = True,
          packages: tuple[str, ...] | None = None) -> Corpus:
    custom = packages is not None
    packages = packages or (QUICK_PACKAGES if quick else FULL_PACKAGES)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    files: list[Path] = []
    per_source: dict[str, tuple[int, int]] = {}
    skipped: list[str] = []
    total = 0
    digest = hashlib.sha256()
    for label, src in _sources(packages, include_repo):
        n_files = n_lines = 0
        for path in sorted(src.rglob("*.py")):
            rel_in_src = path.relative_to(src)
            if any(part in ("__pycache__", ".venv") for part in rel_in_src.parts):
                continue
            data = path.read_bytes()
            rel = Path(label) / rel_in_src
            if not parses(data):
                skipped.append(str(rel))
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            lines = count_lines(data)
            n_files += 1
            n_lines += lines
            files.append(rel)
            digest.update(str(rel).encode() + b"\0" + hashlib.sha256(data).digest())
        per_source[label] = (n_files, n_lines)
        total += n_lines
    if not quick and not custom and total < FULL_MIN_LINES:
        raise SystemExit(f"full corpus has only {total} lines (< {FULL_MIN_LINES})")
    versions = {name: dist_version(name) for name in packages}
    return Corpus(dest, files, total, per_source, versions, skipped, digest.hexdigest()[:16])


def pick_changed_file(corpus: Corpus) -> Path:
    """The file whose size is closest to a typical application module; ties by path."""
    sized = [(abs(corpus.file_lines(rel) - CHANGED_FILE_TARGET_LINES), str(rel), rel)
             for rel in corpus.files
             if not str(rel).startswith("_sqlaguard_repo/")]
    return min(sized)[2]
