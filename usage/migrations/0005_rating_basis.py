"""A record's rating detail moves to a shared table of rating bases (usage.models.RatingBasis):
the record keeps an 8-byte reference instead of ~300 bytes of JSON, so its first contract rating
fits in its page (a HOT update) instead of moving it and touching its indexes.

Existing details are carried over: each distinct one becomes a basis whose id is the first 8
bytes of the MD5 of its JSON text (the rule of usage.pipeline.rerate.basis_id; the text here is
PostgreSQL's rendering, so a basis the rating engine writes later for the same content may get
a second id — harmless, ids only have to mean one content each)."""

import django.db.models.deletion
from django.db import migrations, models

BASIS_ID = "('x' || left(md5(rating_detail::text), 16))::bit(64)::bigint"


class Migration(migrations.Migration):
    dependencies = [("usage", "0004_usage_record_fillfactor")]
    # written alongside 0006 (which was made on top of 0004): keeps the graph a single line
    run_before = [("usage", "0006_monthly_rollup")]

    operations = [
        migrations.CreateModel(
            name="RatingBasis",
            fields=[
                ("id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("detail", models.JSONField()),
            ],
            options={"db_table": "usage_rating_basis"},
        ),
        migrations.AddField(
            model_name="usagerecord",
            name="rating_basis",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="usage.ratingbasis",
            ),
        ),
        migrations.RunSQL(
            [
                f"""
                INSERT INTO usage_rating_basis (id, detail)
                SELECT DISTINCT ON ({BASIS_ID}) {BASIS_ID}, rating_detail
                FROM usage_record WHERE rating_detail IS NOT NULL
                """,
                f"UPDATE usage_record SET rating_basis_id = {BASIS_ID} WHERE rating_detail IS NOT NULL",
            ],
            reverse_sql=[
                """
                UPDATE usage_record r SET rating_detail = b.detail
                FROM usage_rating_basis b WHERE b.id = r.rating_basis_id
                """
            ],
        ),
        migrations.RemoveField(model_name="usagerecord", name="rating_detail"),
    ]
