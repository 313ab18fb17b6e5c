"""Output formats: text (ruff-style), json, sarif, github. Every one masks URL passwords."""
from __future__ import annotations

from .github import render_github
from .json_ import render_json
from .sarif import render_sarif
from .text import render_statistics, render_text

FORMATS = ("text", "json", "sarif", "github")

__all__ = ["FORMATS", "render_text", "render_json", "render_sarif", "render_github", "render_statistics"]
