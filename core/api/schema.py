"""OpenAPI schema hooks (drf-spectacular)."""

from __future__ import annotations


def drop_trailing_slash_twins(endpoints):
    """Actions are routed both as API.md writes them (`invoices/{id}/issue`) and as the router
    makes them (`invoices/{id}/issue/`); the schema lists each once, in API.md's form."""
    bare = {(path, method) for path, _, method, _ in endpoints if not path.endswith("/")}
    return [
        endpoint
        for endpoint in endpoints
        if not (endpoint[0].endswith("/") and (endpoint[0].rstrip("/"), endpoint[2]) in bare)
    ]
