from __future__ import annotations

from dataclasses import asdict, dataclass

PARSE_ERROR = "SQA000"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int  # 1-based
    column: int  # 1-based, as ruff prints it
    end_line: int
    end_column: int
    code: str
    name: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def sort_key(self):
        return (self.path, self.line, self.column, self.code)
