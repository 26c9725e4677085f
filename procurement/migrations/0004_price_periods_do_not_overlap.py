from django.db import migrations

from core.db import no_overlap_trigger

FORWARD, REVERSE = no_overlap_trigger(
    name="vendormodel_no_overlap",
    table="procurement_vendormodel",
    key_columns=["vendor_id", "model"],
    start="effective_from",
    end="effective_to",
)


class Migration(migrations.Migration):
    """One list price in force per vendor model and day, even when two writers race."""

    dependencies = [("procurement", "0003_constraints_and_backstops")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
