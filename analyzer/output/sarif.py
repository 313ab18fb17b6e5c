from __future__ import annotations

import json

from .. import __version__
from ..finding import Finding
from ..redact import mask_urls

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def render_sarif(findings: list[Finding], display, catalog_entries) -> str:
    """SARIF 2.1.0: one run, the tool's rules as reportingDescriptors, one result per finding."""
    rules = []
    index = {}
    for entry in catalog_entries:
        index[entry.code] = len(rules)
        rules.append({
            "id": entry.code,
            "name": entry.name,
            "shortDescription": {"text": entry.summary},
            "fullDescription": {"text": entry.explain.strip() or entry.summary},
            "defaultConfiguration": {"level": "error" if entry.default else "none"},
            "properties": {"kind": entry.kind},
        })
    results = []
    for f in findings:
        result = {
            "ruleId": f.code,
            "level": "error",
            "message": {"text": mask_urls(f.message)},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": display(f.path).replace("\\", "/")},
                    "region": {"startLine": f.line, "startColumn": f.column,
                               "endLine": f.end_line, "endColumn": f.end_column},
                }
            }],
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        results.append(result)
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "sqlaguard", "version": __version__,
                                "informationUri": "https://pypi.org/project/sqlaguard/", "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(document, indent=2) + "\n"
