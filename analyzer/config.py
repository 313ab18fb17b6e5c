"""`[tool.sqlaguard]` in pyproject.toml (or a file given with --config), validated.

A bad option is an error that names the option and the file, never silently ignored.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class ConfigError(Exception):
    pass


def load_toml(path: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


@dataclass
class Config:
    select: Optional[list[str]] = None
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    path: Optional[str] = None  # the file it came from
    root: Optional[str] = None  # the directory patterns and the project are relative to


_LIST_OPTIONS = {"select", "ignore", "extend-select", "exclude"}
_OPTIONS = _LIST_OPTIONS | {"per-file-ignores"}


def find_config(start: str) -> Optional[str]:
    """The nearest pyproject.toml with a [tool.sqlaguard] table, from `start` upwards."""
    directory = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start) or ".")
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            try:
                if "sqlaguard" in load_toml(candidate).get("tool", {}):
                    return candidate
            except (OSError, tomllib.TOMLDecodeError):
                pass
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def find_project_root(start: str) -> Optional[str]:
    """The nearest directory above `start` holding pyproject.toml, setup.py or requirements.txt."""
    directory = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start) or ".")
    while True:
        for marker in ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt"):
            if os.path.isfile(os.path.join(directory, marker)):
                return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def load_config(path: str, explicit: bool = False) -> Config:
    try:
        data = load_toml(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if os.path.basename(path) == "pyproject.toml" or not explicit:
        table = data.get("tool", {}).get("sqlaguard", {})
    else:  # a dedicated file (sqlaguard.toml): options at the top, or under [tool.sqlaguard]
        table = data.get("tool", {}).get("sqlaguard", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.sqlaguard] must be a table")
    config = Config(path=path, root=os.path.dirname(os.path.abspath(path)))
    for key, value in table.items():
        if key not in _OPTIONS:
            known = ", ".join(sorted(_OPTIONS))
            raise ConfigError(f"{path}: unknown option '{key}' in [tool.sqlaguard] (known: {known})")
        if key in _LIST_OPTIONS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: option '{key}' must be a list of strings")
            setattr(config, key.replace("-", "_"), list(value))
        else:
            if not isinstance(value, dict) or not all(
                    isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()):
                raise ConfigError(f"{path}: option 'per-file-ignores' must map patterns to lists of codes")
            config.per_file_ignores = {k: list(v) for k, v in value.items()}
    return config
