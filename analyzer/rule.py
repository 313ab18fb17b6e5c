"""The rule base class: one rule per module, holding its code, name, message, explain text and
its own valid/invalid snippets (the tests run them; `sqlaguard explain` and the docs print them).

In an invalid snippet every expected finding is marked with a trailing `# error: CODE` comment on
the line it is reported on.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Optional

import libcst as cst

if TYPE_CHECKING:
    from .context import FileContext


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    message: ClassVar[str]
    explain: ClassVar[str]  # what it does / why it breaks (exact error) / instead
    default: ClassVar[bool] = True
    valid: ClassVar[tuple[str, ...]] = ()
    invalid: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: "FileContext"):
        self.ctx = ctx

    def report(self, node: cst.CSTNode, message: Optional[str] = None) -> None:
        self.ctx.report(self, node, message or self.message)
