from __future__ import annotations

import re

import pycountry
from django.core.exceptions import ValidationError


def validate_country(value: str) -> None:
    """ISO 3166-1 alpha-2, e.g. CN, US, FR."""
    if not (isinstance(value, str) and len(value) == 2 and pycountry.countries.get(alpha_2=value.upper())):
        raise ValidationError(
            "%(value)s is not an ISO 3166 country code (two letters, e.g. US, CN).",
            code="invalid_country",
            params={"value": value},
        )


REGION_RE = re.compile(r"^[A-Z][A-Z0-9-]{1,31}$")


def validate_region(value: str) -> None:
    """A data-residency region: a country (CN), a bloc (EU) or a cloud region (US-EAST-1)."""
    if not REGION_RE.match(value or ""):
        raise ValidationError(
            "%(value)s is not a region code (capital letters, digits and '-', e.g. EU, CN, US-EAST-1).",
            code="invalid_region",
            params={"value": value},
        )
