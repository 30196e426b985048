"""Freeze what the documents of already-signed agreements state about their parties, from the
live rows as they are now: the best record there is of what was signed."""

from django.db import migrations
from django.utils import timezone

#: Agreement statuses from signing on (Agreement.PUBLIC_STATUSES when this was written).
SIGNED_STATUSES = ("signed", "terminated")


def freeze(apps, schema_editor):
    Party = apps.get_model("agreements", "Party")
    now = timezone.now()
    parties = Party.objects.select_related("institution", "signatory").filter(
        agreement__status__in=SIGNED_STATUSES, frozen_at__isnull=True
    )
    batch = []
    for party in parties.iterator(chunk_size=500):
        institution, signatory = party.institution, party.signatory
        party.frozen_at = now
        party.frozen_institution_name = institution.name
        party.frozen_institution_short_name = institution.short_name
        party.frozen_institution_kind = institution.kind
        party.frozen_institution_address = institution.address
        party.frozen_signatory_name = signatory.full_name if signatory else ""
        party.frozen_signatory_nip = (signatory.nip or "") if signatory else ""
        batch.append(party)
    Party.objects.bulk_update(
        batch,
        [
            "frozen_at",
            "frozen_institution_name",
            "frozen_institution_short_name",
            "frozen_institution_kind",
            "frozen_institution_address",
            "frozen_signatory_name",
            "frozen_signatory_nip",
        ],
        batch_size=500,
    )


class Migration(migrations.Migration):
    dependencies = [("agreements", "0005_party_frozen_statements")]

    operations = [migrations.RunPython(freeze, migrations.RunPython.noop)]
