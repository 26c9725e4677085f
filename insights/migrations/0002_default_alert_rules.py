"""Sensible default alert rules from the first migration (issue 8): finance gets budget,
commitment and FX alerts; procurement gets contract, certification, SLA, compliance and
concentration alerts; department managers get their departments' budget alerts."""

from django.db import migrations

DEFAULT_RULES = [
    (
        "Finance: budgets, commitments and FX",
        ["budget_threshold", "budget_overrun", "commitment_shortfall", "commitment_cap", "fx_missing"],
        ["finance"],
    ),
    (
        "Procurement: contracts, certifications, SLAs and vendors",
        [
            "contract_notice",
            "certification_expiring",
            "sla_breach",
            "sla_claim_deadline",
            "compliance",
            "vendor_concentration",
        ],
        ["procurement"],
    ),
    (
        "Managers: their departments' budgets",
        ["budget_threshold", "budget_overrun", "usage_anomaly"],
        ["department_manager"],
    ),
    ("Administrators: feeds", ["feed_stale"], ["admin"]),
]


def create(apps, schema_editor):
    AlertRule = apps.get_model("insights", "AlertRule")
    for name, types, roles in DEFAULT_RULES:
        AlertRule.objects.get_or_create(
            name=name, defaults={"types": types, "roles": roles, "channels": ["email", "inbox"]}
        )


def remove(apps, schema_editor):
    AlertRule = apps.get_model("insights", "AlertRule")
    AlertRule.objects.filter(name__in=[name for name, _, _ in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("insights", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
