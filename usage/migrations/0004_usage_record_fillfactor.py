"""Half of each usage_record page is kept free, so re-rating a record is a HOT update: the new
row version goes on the same page and no index is touched (2–3× faster re-rating, measured in
benchmarks/rate.py). The price is disk: see the README, "Usage records"."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("usage", "0003_contract_rating")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE usage_record SET (fillfactor = 50)",
            reverse_sql="ALTER TABLE usage_record RESET (fillfactor)",
        )
    ]
