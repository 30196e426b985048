"""Small builders for test data.

Draft-level records (institutions, people, a draft agreement, a programme, a participant, a
screened enrolment) are plain rows. An agreement in discussion, ready, signed or terminated is
reached through `agreements.services.lifecycle`, as the staff pages reach it, so that it
carries its status history and history entries. (`enrolment` still writes its status as a
row: many tests ask it for states the enrolment services refuse, such as a programme without
phases or a participant held elsewhere; `conftest.build_world` moves its enrolments through
the services.) The moves are made by `actor()`, a superuser who holds no
role anywhere (so that no institution's staff lists change).

Signing issues the official PDF once the signing commits; tests run inside a transaction that
never commits, so no PDF is rendered unless a test asks for it (`issuing.issued_document_for`).
"""

from __future__ import annotations

import datetime
import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser

from agreements.models import Agreement, Article, Party
from agreements.services.lifecycle import agreement_move, agreement_terminate, signing_event_record
from institutions.models import Institution, Membership, Person
from rehabilitation.models import Enrolment, Participant, Programme

PASSWORD = "a-long-test-password-2025"
_seq = itertools.count(1)


def institution(
    name: str | None = None, kind: str = Institution.Kind.RUTAN, **fields
) -> Institution:
    n = next(_seq)
    name = name or f"Rumah Tahanan Negara Uji {n}"
    fields.setdefault("short_name", name.replace("Rumah Tahanan Negara", "Rutan"))
    return Institution.objects.create(name=name, kind=kind, **fields)


def user(
    username: str | None = None,
    institution: Institution | None = None,
    roles: tuple[str, ...] = (Membership.Role.EDITOR,),
    **fields,
) -> AbstractUser:
    account = get_user_model().objects.create_user(
        username=username or f"user{next(_seq)}", password=PASSWORD, **fields
    )
    if institution is not None:
        for role in roles:
            Membership.objects.create(user=account, institution=institution, role=role)
    return account


def person(full_name: str | None = None, **fields) -> Person:
    return Person.objects.create(full_name=full_name or f"Orang Uji {next(_seq)}", **fields)


#: The username of `actor()`.
ACTOR = "factory.actor"
#: The day the factories sign agreements on, unless told otherwise (the seed's signing).
SIGNING_DAY = datetime.date(2025, 8, 4)

Status = Agreement.Status
#: How far along the lifecycle each status is; a status is reached through those before it.
_LIFECYCLE = (Status.DRAFT, Status.DISCUSSION, Status.READY, Status.SIGNED, Status.TERMINATED)


def actor() -> AbstractUser:
    """The superuser who makes the factories' moves through the services (one per test)."""
    made, _ = get_user_model().objects.get_or_create(
        username=ACTOR, defaults={"is_superuser": True, "is_staff": False}
    )
    return made


def agreement(
    *institutions: Institution,
    status: str = Agreement.Status.DRAFT,
    articles: int = 2,
    signing_venue: str = "Aula Rumah Tahanan Negara",
    signing_host: Institution | None = None,
    signing_time: datetime.time | None = None,
    **fields,
) -> Agreement:
    """An agreement between `institutions` (in party order), numbered per party.

    A draft is made as rows. Any other `status` is reached from there through the lifecycle
    services: discussion, ready for signing, signed at a ceremony on `signed_on` (4 August
    2025 by default) at `signing_venue`, hosted by `signing_host` (the first party by
    default), and terminated on `terminated_on` (1 December 2025 by default). Parties
    without a signatory get one ("Kepala <institution>") before the signing. `fields` are the
    agreement's own fields, set on the draft (term, dates, signing place, …).
    """
    n = next(_seq)
    # The signing and the termination set these dates; on a draft they are plain fields.
    target = _LIFECYCLE.index(status)
    signed = target >= _LIFECYCLE.index(Status.SIGNED)
    signed_on = (fields.pop("signed_on", None) if signed else None) or SIGNING_DAY
    terminated = target >= _LIFECYCLE.index(Status.TERMINATED)
    terminated_on = (fields.pop("terminated_on", None) if terminated else None) or (
        datetime.date(2025, 12, 1)
    )
    made = Agreement.objects.create(
        title=fields.pop("title", f"PKS Uji {n}"),
        subject=fields.pop("subject", f"Kerja Sama Uji {n}"),
        **fields,
    )
    for order, inst in enumerate(institutions, start=1):
        Party.objects.create(
            agreement=made, institution=inst, order=order, number=f"PKS/{n}/{order}/2025"
        )
    for number in range(1, articles + 1):
        Article.objects.create(
            agreement=made, number=number, heading=f"Judul Pasal {number}", body="Isi pasal."
        )
    return advance(
        made,
        status,
        signed_on=signed_on,
        terminated_on=terminated_on,
        signing_venue=signing_venue,
        signing_host=signing_host,
        signing_time=signing_time,
    )


def advance(
    made: Agreement,
    status: str,
    *,
    signed_on: datetime.date = SIGNING_DAY,
    terminated_on: datetime.date = datetime.date(2025, 12, 1),
    signing_venue: str = "Aula Rumah Tahanan Negara",
    signing_host: Institution | None = None,
    signing_time: datetime.time | None = None,
) -> Agreement:
    """Move a draft `made` on to `status` through the lifecycle services (see `agreement`)."""
    target = _LIFECYCLE.index(status)
    if target == 0:
        return made
    if target >= _LIFECYCLE.index(Status.SIGNED):
        # Still a draft: its parties are completed as rows, as the draft itself was made.
        for party in made.parties.select_related("institution").filter(signatory=None):
            party.signatory = person(f"Kepala {party.institution.display_name}")
            party.signatory_position = party.signatory_position or "Kepala"
            party.save(update_fields=["signatory", "signatory_position"])
    user = actor()
    agreement_move(agreement=made, user=user, to_status=Status.DISCUSSION)
    if target >= _LIFECYCLE.index(Status.READY):
        agreement_move(agreement=made, user=user, to_status=Status.READY)
    if target >= _LIFECYCLE.index(Status.SIGNED):
        signing_event_record(
            user=user,
            date=signed_on,
            venue=signing_venue,
            host=signing_host or made.parties.order_by("order").first().institution,
            agreements=[made],
            start_time=signing_time,
        )
    if target >= _LIFECYCLE.index(Status.TERMINATED):
        agreement_terminate(
            agreement=made, user=user, date=terminated_on, reason="Diakhiri lebih awal (uji)."
        )
    return Agreement.objects.get(pk=made.pk)


def programme(agreement: Agreement, host: Institution, *partners: Institution, **fields):
    made = Programme.objects.create(
        name=fields.pop("name", f"Program Uji {next(_seq)}"),
        kind=fields.pop("kind", Programme.Kind.SOCIAL),
        host=host,
        agreement=agreement,
        launch_date=fields.pop("launch_date", datetime.date(2025, 8, 4)),
        **fields,
    )
    made.partners.set(partners)
    return made


def participant(institution: Institution, **fields) -> Participant:
    n = next(_seq)
    return Participant.objects.create(
        institution=institution,
        register_number=fields.pop("register_number", f"REG-{n:05d}"),
        full_name=fields.pop("full_name", f"Warga Binaan Uji {n}"),
        status=fields.pop("status", Participant.Status.PRISONER),
        **fields,
    )


def enrolment(participant: Participant, programme: Programme, **fields) -> Enrolment:
    return Enrolment.objects.create(
        participant=participant,
        programme=programme,
        start_date=fields.pop("start_date", datetime.date(2025, 8, 11)),
        **fields,
    )
