"""A calendar feed belongs to one account at one institution (the old rows are gone: 0007)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agreements", "0007_delete_institution_calendar_feeds"),
        ("institutions", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="calendarfeed",
            name="institution",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="calendar_feeds",
                to="institutions.institution",
                verbose_name="institution",
            ),
        ),
        migrations.AddField(
            model_name="calendarfeed",
            name="user",
            # The table is empty (0007), so no row needs this placeholder.
            field=models.ForeignKey(
                default=0,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="calendar_feeds",
                to=settings.AUTH_USER_MODEL,
                verbose_name="user",
            ),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="calendarfeed",
            constraint=models.UniqueConstraint(
                fields=("user", "institution"), name="calendar_feed_once_per_user_institution"
            ),
        ),
    ]
