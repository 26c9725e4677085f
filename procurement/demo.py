"""Demo departments: a company tree of about a dozen cost centres (run by `manage.py load_demo`)."""

from __future__ import annotations

from .models import Department

# code, name, parent code
DEPARTMENTS = [
    ("CORP", "Corporate", None),
    ("FIN", "Finance", "CORP"),
    ("ENG", "Engineering", "CORP"),
    ("ENG-PLAT", "Platform Engineering", "ENG"),
    ("ENG-AI", "AI Products", "ENG"),
    ("ENG-AI-SEARCH", "Search & Assistants", "ENG-AI"),
    ("ENG-AI-CODE", "Code Assistant", "ENG-AI"),
    ("DATA", "Data Science", "CORP"),
    ("CS", "Customer Support", "CORP"),
    ("MKT", "Marketing", "CORP"),
    ("SALES", "Sales", "CORP"),
    ("LEGAL", "Legal & Compliance", "CORP"),
]


def load_departments() -> dict[str, Department]:
    by_code: dict[str, Department] = {}
    for code, name, parent in DEPARTMENTS:
        dept, _ = Department.objects.update_or_create(
            code=code, defaults={"name": name, "parent": by_code.get(parent) if parent else None}
        )
        by_code[code] = dept
    return by_code
