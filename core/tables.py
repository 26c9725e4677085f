from __future__ import annotations

import django_tables2 as tables

from .columns import DateColumn
from .models import FxRate


class FxRateTable(tables.Table):
    date = DateColumn(format="Y-m-d", linkify=("core:fxrate_edit", {"pk": tables.A("pk")}))
    rate = tables.Column(attrs={"td": {"class": "tl-num"}, "th": {"class": "tl-num"}})

    class Meta:
        model = FxRate
        fields = ("date", "base", "quote", "rate", "source", "updated_at")

    def render_rate(self, value):
        return value.normalize()
