"""`sqlaguard check | rules | explain`, with ruff's conventions: exit 0 clean, 1 findings, 2 errors."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from . import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _codes(values: Optional[list[str]]) -> list[str]:
    out = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sqlaguard", description="Async SQLAlchemy checks for FastAPI apps.")
    parser.add_argument("--version", action="version", version=f"sqlaguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", help="scan files and directories for async SQLAlchemy mistakes")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: .)")
    check.add_argument("--select", action="append", metavar="CODES", help="codes or prefixes to enable (ALL for all)")
    check.add_argument("--ignore", action="append", metavar="CODES", help="codes or prefixes to disable")
    check.add_argument("--extend-select", action="append", metavar="CODES", help="codes to enable on top of the selection")
    check.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    check.add_argument("--statistics", action="store_true", help="print counts per rule instead of findings")
    check.add_argument("-q", "--quiet", action="store_true", help="print findings only, without source or summary")
    check.add_argument("--config", metavar="PATH", help="configuration file (default: nearest pyproject.toml)")
    check.add_argument("--force-exclude", action="store_true", help="apply exclusions to paths named on the command line")
    check.add_argument("--no-cache", action="store_true", help="do not read or write .sqlaguard_cache")
    check.add_argument("--jobs", "-j", type=int, default=None, metavar="N", help="worker processes (default: CPUs)")

    rules = sub.add_parser("rules", help="list every code with its name and default")
    rules.add_argument("--markdown", action="store_true", help="the full catalog as Markdown (docs/rules.md)")
    explain = sub.add_parser("explain", help="why a rule exists, an example, and the fix")
    explain.add_argument("code", metavar="CODE")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "rules":
            return _rules(args.markdown)
        if args.command == "explain":
            return _explain(args.code)
        parser.print_help()
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_CLEAN


def _error(message: str) -> int:
    sys.stderr.write(f"sqlaguard: error: {message}\n")
    return EXIT_ERROR


def _check(args) -> int:
    from . import catalog
    from .config import Config, ConfigError, find_config, find_project_root, load_config
    from .selection import resolve_selection, validate

    paths = args.paths or ["."]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        return _error(f"no such file or directory: {', '.join(missing)}")
    all_codes = {e.code: e.default for e in catalog.entries() if e.kind == "static"}
    try:
        if args.config:
            config = load_config(args.config, explicit=True)
        else:
            found = find_config(paths[0])
            config = load_config(found) if found else Config(root=os.getcwd())
        where = config.path or "configuration"
        select = validate(config.select, all_codes, where) if config.select is not None else None
        ignore = validate(config.ignore, all_codes, where)
        extend = validate(config.extend_select, all_codes, where)
        for pattern, codes in config.per_file_ignores.items():
            validate(codes, all_codes, f"{where}: per-file-ignores '{pattern}'")
        if args.select:
            select, extend = validate(_codes(args.select), all_codes, "--select"), []
        ignore += validate(_codes(args.ignore), all_codes, "--ignore")
        extend += validate(_codes(args.extend_select), all_codes, "--extend-select")
    except ConfigError as exc:
        return _error(str(exc))
    selected = resolve_selection(all_codes, select, extend, ignore)

    from .runner import display_path, run
    report = run(paths, config, selected, project_root=find_project_root(paths[0]),
                 force_exclude=args.force_exclude, jobs=args.jobs, use_cache=not args.no_cache)
    if report.files_scanned == 0 and report.files_failed:
        _write_findings(args, report, display_path)
        return _error("no file could be scanned")
    _write_findings(args, report, display_path)
    if report.findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _write_findings(args, report, display) -> None:
    from . import catalog, output
    findings = report.findings
    if args.statistics:
        sys.stdout.write(output.render_statistics(findings))
    elif args.format == "json":
        sys.stdout.write(output.render_json(findings, display))
    elif args.format == "sarif":
        sys.stdout.write(output.render_sarif(findings, display, catalog.entries()))
    elif args.format == "github":
        sys.stdout.write(output.render_github(findings, display))
    else:
        sys.stdout.write(output.render_text(findings, report.lines, display, quiet=args.quiet))


def _rules(as_markdown: bool = False) -> int:
    from . import catalog
    if as_markdown:
        sys.stdout.write(catalog.markdown())
        return EXIT_CLEAN
    rows = catalog.entries()
    width = max(len(e.name) for e in rows)
    for e in rows:
        state = "on" if e.default else "off"
        sys.stdout.write(f"{e.code}  {e.name:<{width}}  {e.kind:<7}  {state:<3}  {e.summary}\n")
    return EXIT_CLEAN


def _explain(code: str) -> int:
    from . import catalog
    entry = catalog.lookup(code)
    if entry is None:
        return _error(f"unknown rule '{code}' (see `sqlaguard rules`)")
    sys.stdout.write(catalog.explain_text(entry))
    return EXIT_CLEAN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
