"""Expected findings written in fixtures as trailing comments: `# error: SQA201` or
`# error: SQA201, SQA202` on the line where the finding is reported (flake8-async's eval files)."""
from __future__ import annotations

import os
import re

_ERROR = re.compile(r"#\s*error:\s*(?P<codes>[A-Z]{3}\d{3}(?:\s*,\s*[A-Z]{3}\d{3})*)")


def expected_in_text(text: str) -> set[tuple[int, str]]:
    out = set()
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _ERROR.finditer(line):
            for code in match.group("codes").split(","):
                out.add((number, code.strip()))
    return out


def expected_in_tree(root: str) -> set[tuple[str, int, str]]:
    """(path relative to root, line, code) for every `# error:` comment under root."""
    out = set()
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for filename in sorted(filenames):
            if filename.endswith(".py"):
                path = os.path.join(directory, filename)
                with open(path, encoding="utf-8", errors="replace") as handle:
                    for line, code in expected_in_text(handle.read()):
                        out.add((os.path.relpath(path, root), line, code))
    return out
