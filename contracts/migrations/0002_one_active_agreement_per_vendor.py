from django.db import migrations

from core.db import no_overlap_trigger

FORWARD, REVERSE = no_overlap_trigger(
    name="agreement_one_active_per_vendor",
    table="contracts_agreement",
    key_columns=["vendor_id"],
    start="start",
    end='"end"',
    condition="NEW.status = 'active'",
)


class Migration(migrations.Migration):
    """At most one agreement per vendor is active on any date, even when two writers race."""

    dependencies = [("contracts", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
