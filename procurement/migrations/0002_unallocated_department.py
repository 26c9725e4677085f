from django.db import migrations

UNALLOCATED = "UNALLOCATED"


def create_unallocated(apps, schema_editor):
    """Usage no attribution rule matches goes to this department, which finance sees."""
    Department = apps.get_model("procurement", "Department")
    Department.objects.get_or_create(
        code=UNALLOCATED, defaults={"name": "Unallocated (no attribution rule matched)", "is_system": True}
    )


class Migration(migrations.Migration):
    dependencies = [("procurement", "0001_initial")]

    operations = [migrations.RunPython(create_unallocated, migrations.RunPython.noop)]
