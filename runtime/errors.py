from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .findings import Finding


class SqlaguardError(Exception):
    """Raised for a finding whose code is in `raise_on` (meant for tests)."""

    def __init__(self, finding: "Finding"):
        super().__init__(finding.format(with_stack=True))
        self.finding = finding
