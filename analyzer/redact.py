"""Credentials never leave the tool: passwords in URLs are masked in every output."""
from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*:)(?P<password>[^@\s'\"/]+)(?=@)")


def mask_urls(text: str) -> str:
    if "://" not in text:
        return text
    return _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
