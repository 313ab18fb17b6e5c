from __future__ import annotations

from collections import Counter

from ..finding import Finding
from ..redact import mask_urls


def render_text(findings: list[Finding], lines: dict, display, quiet: bool = False, color: bool = False) -> str:
    out = []
    for f in findings:
        out.append(f"{display(f.path)}:{f.line}:{f.column}: {f.code} {mask_urls(f.message)}")
        if quiet:
            continue
        source = lines.get((f.path, f.line))
        if source:
            source = mask_urls(source.expandtabs(1))
            width = (f.end_column - f.column) if f.end_line == f.line else len(source) - f.column + 1
            out.append(f"    {source}")
            out.append("    " + " " * (f.column - 1) + "^" * max(1, width))
    if not quiet:
        if findings:
            noun = "error" if len(findings) == 1 else "errors"
            out.append(f"Found {len(findings)} {noun}.")
        else:
            out.append("All checks passed!")
    return "\n".join(out) + ("\n" if out else "")


def render_statistics(findings: list[Finding]) -> str:
    counts = Counter((f.code, f.name) for f in findings)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    return "".join(f"{count:>5}\t{code}\t{name}\n" for (code, name), count in rows)
