"""Delete the per-institution calendar feeds: their addresses belonged to no person, so they
could not end with anyone's membership. From now on each staff member makes their own on the
calendar page; the old addresses answer 404."""

from django.db import migrations


def delete_institution_feeds(apps, schema_editor):
    apps.get_model("agreements", "CalendarFeed").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("agreements", "0006_freeze_signed_parties")]

    operations = [
        migrations.RunPython(delete_institution_feeds, migrations.RunPython.noop, elidable=True)
    ]
