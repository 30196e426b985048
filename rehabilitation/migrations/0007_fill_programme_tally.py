"""Count the public figures of the programmes that exist (as `statistics.refresh()` does)."""

from django.db import migrations
from django.db.models import Count, Q

ACTIVE = ("enrolled", "in_phase")


def fill(apps, schema_editor):
    Enrolment = apps.get_model("rehabilitation", "Enrolment")
    ProgrammeTally = apps.get_model("rehabilitation", "ProgrammeTally")
    rows = (
        Enrolment.objects.filter(enrolled_on__isnull=False)
        .order_by()
        .values("programme_id")
        .annotate(
            enrolled=Count("pk"),
            active=Count("pk", filter=Q(status__in=ACTIVE)),
            completed=Count("pk", filter=Q(status="completed")),
        )
    )
    ProgrammeTally.objects.bulk_create(
        [
            ProgrammeTally(
                programme_id=row["programme_id"],
                enrolled=row["enrolled"],
                active=row["active"],
                completed=row["completed"],
            )
            for row in rows
        ],
        batch_size=500,
    )


class Migration(migrations.Migration):
    dependencies = [("rehabilitation", "0006_indexes_for_lists_and_programme_tally")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
