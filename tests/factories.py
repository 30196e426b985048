"""Small builders for test data. They create rows through the models' own rules."""

from __future__ import annotations

import datetime
import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser

from agreements.models import Agreement, Article, Party
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


def agreement(
    *institutions: Institution,
    status: str = Agreement.Status.DRAFT,
    articles: int = 2,
    **fields,
) -> Agreement:
    """An agreement between `institutions` (in party order), numbered per party."""
    n = next(_seq)
    if status in Agreement.PUBLIC_STATUSES:
        fields.setdefault("signed_on", datetime.date(2025, 8, 4))
    if status == Agreement.Status.TERMINATED:
        fields.setdefault("terminated_on", datetime.date(2025, 12, 1))
    made = Agreement.objects.create(
        title=fields.pop("title", f"PKS Uji {n}"),
        subject=fields.pop("subject", f"Kerja Sama Uji {n}"),
        status=status,
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
    return made


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
