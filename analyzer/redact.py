"""Credentials never leave the tool: passwords in URLs are masked in every output."""
from __future__ import annotations

import re

# The password of `scheme://user:password@host`: everything up to the last '@' of the URL token,
# so a password holding '/', ':' or an unescaped '@' is masked whole.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*:)(?P<password>[^\s'\"]+)(?=@[^@\s'\"]*)")
# `?password=...` query parameters, and `password="..."` keyword arguments in quoted source lines.
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)(?P<password>[^&\s'\"#]+)", re.IGNORECASE)
_KWARG_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*(?P<q>['\"]))(?P<password>[^'\"]*)(?P=q)",
                             re.IGNORECASE)


def mask_urls(text: str) -> str:
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
        text = _QUERY_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    if "=" in text:
        text = _KWARG_PASSWORD.sub(lambda m: m.group("head") + "***" + m.group("q"), text)
    return text
