"""The sidebar: sections of pages, each shown to the roles that may view its resource.

Entries whose URL does not exist (yet) are skipped, so the menu always matches what is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from core.policy import can


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    icon: str
    resource: str | None  # None: every signed-in person


NAV: list[tuple[str, list[NavItem]]] = [
    (
        "Overview",
        [
            NavItem("Dashboard", "insights:dashboard", "layout-dashboard", "dashboard"),
            NavItem("Alerts", "insights:alert_list", "bell", "alert"),
            NavItem("Approvals", "accounts:approval_list", "checklist", "approval"),
        ],
    ),
    (
        "Spend",
        [
            NavItem("Usage", "usage:explorer", "chart-bar", "usage"),
            NavItem("Ingestion runs", "usage:run_list", "list-check", "ingestion_run"),
            NavItem("Vendor cost lines", "usage:cost_line_list", "receipt", "vendor_cost_line"),
            NavItem("Budgets", "procurement:budget_list", "wallet", "budget"),
            NavItem("Forecasts", "insights:forecast_list", "chart-line", "forecast"),
        ],
    ),
    (
        "Contracts",
        [
            NavItem("Vendors", "procurement:vendor_list", "building-store", "vendor"),
            NavItem("Price book", "procurement:vendormodel_list", "receipt-2", "vendor_model"),
            NavItem("Certifications", "procurement:certification_list", "certificate", "vendor_certification"),
            NavItem("Agreements", "contracts:agreement_list", "file-certificate", "agreement"),
            NavItem("FX rates", "core:fxrate_list", "currency-dollar", "fx_rate"),
        ],
    ),
    (
        "Money out",
        [
            NavItem("Invoices", "billing:invoice_list", "file-invoice", "invoice"),
            NavItem("Reconciliation", "billing:reconciliation", "scale", "reconciliation"),
            NavItem("Reports", "insights:report_list", "report-analytics", "report"),
        ],
    ),
    (
        "Administration",
        [
            NavItem("Departments", "procurement:department_list", "sitemap", "department"),
            NavItem("Sources", "usage:source_list", "plug-connected", "usage_source"),
            NavItem("Attribution rules", "usage:rule_list", "arrows-split", "attribution_rule"),
            NavItem("Users", "accounts:user_list", "users", "user"),
            NavItem("API tokens", "accounts:token_list", "key", None),
            NavItem("Settings", "core:settings", "settings", "settings"),
        ],
    ),
]


# Counts shown beside an entry (the unread alerts): url name → function(user) → int, registered by
# the app that knows the count in its AppConfig.ready() (core cannot import the apps above it).
BADGES: dict[str, Callable[[object], int]] = {}


def register_badge(url_name: str, count: Callable[[object], int]) -> None:
    BADGES[url_name] = count


def badge_id(url_name: str) -> str:
    """The DOM id of an entry's badge: a response that changes the count swaps it (htmx, out of band)."""
    return "nav-badge-" + url_name.replace(":", "-").replace("_", "-")


def navigation_for(user, path: str) -> list[dict]:
    sections = []
    for title, items in NAV:
        visible = []
        for item in items:
            if item.resource is not None and not can(user, item.resource, "view"):
                continue
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:
                continue
            entry = {"label": item.label, "url": url, "icon": item.icon, "active": False, "badge": 0, "badge_id": ""}
            if item.url_name in BADGES:  # the badge's box is there even at 0, for htmx to refresh it in place
                entry.update(badge=BADGES[item.url_name](user), badge_id=badge_id(item.url_name))
            visible.append(entry)
        if visible:
            sections.append({"title": title, "items": visible})
    # The entry with the longest URL that prefixes the path is the current one.
    matches = [
        entry
        for section in sections
        for entry in section["items"]
        if (path == entry["url"] if entry["url"] == "/" else path.startswith(entry["url"]))
    ]
    if matches:
        max(matches, key=lambda entry: len(entry["url"]))["active"] = True
    return sections
