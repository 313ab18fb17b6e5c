from __future__ import annotations

import json

from ..finding import Finding
from ..redact import mask_urls


def render_json(findings: list[Finding], display) -> str:
    items = []
    for f in findings:
        item = f.to_dict()
        item["path"] = display(f.path)
        item["message"] = mask_urls(f.message)
        items.append(item)
    return json.dumps(items, indent=2) + "\n"
