from __future__ import annotations

from ..finding import Finding
from ..redact import mask_urls


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: list[Finding], display) -> str:
    """GitHub Actions workflow commands: one `::error` annotation per finding."""
    out = []
    for f in findings:
        out.append(
            f"::error title={_escape_property('sqlaguard (' + f.code + ')')},file={_escape_property(display(f.path))},"
            f"line={f.line},col={f.column},endLine={f.end_line},endColumn={f.end_column}"
            f"::{_escape(f.code + ' ' + mask_urls(f.message))}"
        )
    return "\n".join(out) + ("\n" if out else "")
