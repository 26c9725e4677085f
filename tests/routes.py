"""Every URL route of the project, with the view behind it (used by the matrix tests)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, reverse


@dataclass(frozen=True)
class Route:
    path: str  # the pattern as written, with converters
    name: str | None
    view: object  # the class (CBV or DRF view/viewset) or the function
    callback: object

    @property
    def has_parameters(self) -> bool:
        return "<" in self.path or "(?P" in self.path

    @property
    def is_api(self) -> bool:
        return self.path.startswith("api/v1/")

    @property
    def answers_get(self) -> bool:
        actions = getattr(self.callback, "actions", None)
        if actions is not None:  # a DRF viewset route
            return "get" in actions
        methods = getattr(self.view, "http_method_names", ["get"])
        return "get" in methods and (hasattr(self.view, "get") or not isinstance(self.view, type))

    @property
    def url(self) -> str:
        return reverse(self.name) if self.name else "/" + self.path


def _view_of(callback):
    for attr in ("cls", "view_class"):
        if hasattr(callback, attr):
            return getattr(callback, attr)
    return callback


def all_routes() -> list[Route]:
    routes: list[Route] = []

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = entry.namespace or namespace
                walk(entry.url_patterns, prefix + str(entry.pattern), ns)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
                routes.append(Route(prefix + str(entry.pattern), name, _view_of(entry.callback), entry.callback))

    walk(get_resolver().url_patterns, "", None)
    return routes


# Routes that are public or belong to libraries with their own protection.
# `metrics` has its own check: allowed addresses or the metrics token (core.metrics.scrape_allowed).
PUBLIC_PREFIXES = ("accounts/", "api/schema/", "api/docs/", "healthz", "readyz", "metrics")
