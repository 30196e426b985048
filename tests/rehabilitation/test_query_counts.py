"""Every rehabilitation page kind costs the same number of queries at two sizes of data.

Each page is read with 2 of every related thing (participants enrolled in the programme,
their screenings, sessions with attendance, progress notes, access-log lines), then with 12,
and must make exactly the pinned number of queries both times: an N+1, or a count that grows
with the data, fails here. The data is made through the services (`tests.factories`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from institutions.models import Membership
from rehabilitation.models import (
    AccessLog,
    Attendance,
    Enrolment,
    Participant,
    Programme,
    Screening,
    Session,
)
from rehabilitation.services import sessions as session_services
from rehabilitation.services.sessions import progress_note_add
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = Enrolment.Status
DAY = datetime.date(2025, 9, 1)


@pytest.fixture
def world():
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    bnnk = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    pks = factories.agreement(bnnk, rutan, status="signed", title="PKS Rehabilitasi Uji")
    programme = factories.programme(pks, rutan, bnnk, name="Program Uji Hitung")
    staff = factories.user(institution=rutan, roles=(Role.ADMIN, Role.PROGRAMME))
    return {"rutan": rutan, "bnnk": bnnk, "programme": programme, "staff": staff, "grown": 0}


def grow(world: dict, n: int) -> None:
    """`n` more of everything a page lists: participants enrolled (in a phase) and screened,
    sessions with every active participant's attendance, progress notes and access-log
    lines about the first participant, screenings of the first participant."""
    programme = world["programme"]
    for index in range(n):
        person = factories.participant(
            world["rutan"], birth_date=datetime.date(1980, 1, (world["grown"] + index) % 28 + 1)
        )
        factories.enrolment(
            person, programme, status=Status.IN_PHASE, enrolled_on=datetime.date(2025, 8, 12)
        )
    world["grown"] += n
    first = Enrolment.objects.filter(programme=programme).order_by("pk").first()
    assert first is not None
    active = list(
        Enrolment.objects.filter(programme=programme, status__in=Enrolment.ACTIVE_STATUSES)
    )
    for index in range(n):
        session = session_services.session_create(
            programme=programme,
            user=world["staff"],
            date=DAY + datetime.timedelta(days=world["grown"] * 3 + index),
            topic=f"Sesi kelompok {index}",
        )
        session_services.attendance_record(
            session=session,
            user=world["staff"],
            marks={enrolment.pk: Attendance.Status.PRESENT for enrolment in active},
        )
        progress_note_add(
            enrolment=first, user=world["staff"], date=DAY, text=f"Catatan kemajuan {index}."
        )
        Screening.objects.create(participant=first.participant, date=DAY)
        AccessLog.objects.create(
            user=world["staff"],
            participant=first.participant,
            institution=world["rutan"],
            action=AccessLog.Action.VIEW,
            detail="participant",
        )


@dataclass(frozen=True)
class Page:
    url: Callable[[dict], str]
    queries: int
    #: "anonymous", "staff" (administrator and programme staff of the holding unit) or
    #: "superuser" (the admin).
    reader: str = "staff"


def _first(model, **filters):
    return model.objects.filter(**filters).order_by("pk").first()


def _participant(world) -> Participant:
    return _first(Participant, institution=world["rutan"])


def _enrolment(world) -> Enrolment:
    return _first(Enrolment, programme=world["programme"])


def _admin(model) -> Callable[[dict], str]:
    return lambda world: reverse(
        f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
    )


def _url(name: str, *args, query: str = "") -> Callable[[dict], str]:
    """The address of page `name`; each argument is a function of the world."""
    return lambda world: (
        reverse(f"rehabilitation:{name}", args=[arg(world) for arg in args]) + query
    )


def _programme(world) -> int:
    return world["programme"].pk


def _rutan(world) -> int:
    return world["rutan"].pk


def _session(world) -> int:
    return _first(Session, programme=world["programme"]).pk


YEAR = "?start=2025-01-01&end=2025-12-31"

#: Each page's queries: the session, the user and their roles come first on staff pages.
PAGES: dict[str, Page] = {
    "public statistics": Page(_url("public_statistics"), 1, "anonymous"),
    "programme list": Page(_url("programmes"), 8),
    "programme detail": Page(_url("programme", _programme), 16),
    "programme report": Page(_url("programme_report", _programme, query=YEAR), 14),
    "programme report xlsx": Page(
        _url("programme_report", _programme, query=YEAR + "&format=xlsx"), 14
    ),
    "institution report": Page(_url("institution_report", _rutan, query=YEAR), 14),
    "institution report xlsx": Page(
        _url("institution_report", _rutan, query=YEAR + "&format=xlsx"), 14
    ),
    "participant list": Page(_url("participants"), 11),
    "participant detail": Page(_url("participant", lambda w: _participant(w).pk), 17),
    "who has seen a participant": Page(
        _url("participant_access_log", lambda w: _participant(w).pk), 11
    ),
    "enrolment list": Page(_url("enrolments"), 12),
    "enrolment detail": Page(_url("enrolment", lambda w: _enrolment(w).pk), 27),
    "session list": Page(_url("sessions", _programme), 9),
    "session detail": Page(_url("session", _session), 13),
    "access log": Page(_url("access_log", _rutan), 13),
    # A CSV's log is written in its own transaction once the header is out (two more).
    "export csv": Page(_url("participants_export", lambda w: "csv"), 15),
    "export xlsx": Page(_url("participants_export", lambda w: "xlsx"), 13),
    "identified export csv": Page(
        _url("participants_export", lambda w: "csv", query="?identified=1"), 15
    ),
    "admin enrolments": Page(_admin(Enrolment), 10, "superuser"),
    "admin participants": Page(_admin(Participant), 10, "superuser"),
    "admin programmes": Page(_admin(Programme), 10, "superuser"),
    "admin access log": Page(_admin(AccessLog), 12, "superuser"),
    "admin screenings": Page(_admin(Screening), 12, "superuser"),
    "admin sessions": Page(_admin(Session), 9, "superuser"),
}


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200, url
        if response.streaming:
            b"".join(response.streaming_content)  # a streamed export queries as it is read
    return len(queries)


@pytest.mark.parametrize("name", PAGES)
def test_a_page_costs_the_same_queries_at_two_sizes(client, admin_client, world, name):
    page = PAGES[name]
    if page.reader == "staff":
        client.force_login(world["staff"])
    reader = admin_client if page.reader == "superuser" else client
    reader.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    grow(world, 2)
    _queries(reader, page.url(world))  # the first read of a session may store it
    small = _queries(reader, page.url(world))
    grow(world, 10)
    large = _queries(reader, page.url(world))
    assert (small, large) == (page.queries, page.queries)


@pytest.mark.parametrize("dense", [0, 10**9], ids=["row-checked", "id set"])
def test_the_enrolment_list_reads_the_same_rows_and_queries_in_either_form(
    client, world, monkeypatch, dense
):
    """`visible_enrolments_for_list` picks how the rule is read from the tallies; either
    form gives exactly the rows of `visible_enrolments`, at the same pinned query count."""
    from rehabilitation import access

    monkeypatch.setattr(access, "DENSE_ENROLMENTS", dense)
    grow(world, 3)
    # Someone else's participant in a programme the staff do not run: never listed.
    other = factories.institution("Lembaga Pemasyarakatan Kelas IIA Lain")
    other_pks = factories.agreement(world["bnnk"], other, status="signed", title="PKS Lain")
    elsewhere = factories.programme(other_pks, other, world["bnnk"], name="Program Lain")
    factories.enrolment(factories.participant(other, register_number="LAIN-1"), elsewhere)
    # One held by the staff's unit, in that programme: listed for them (held there).
    held = factories.participant(world["rutan"], register_number="LAIN-2")
    held_elsewhere = factories.enrolment(held, elsewhere)
    partner = factories.user(institution=world["bnnk"], roles=(Role.PROGRAMME,))
    for user in (world["staff"], partner):
        expected = set(access.visible_enrolments(user).values_list("pk", flat=True))
        listed = set(access.visible_enrolments_for_list(user).values_list("pk", flat=True))
        assert listed == expected
        assert held_elsewhere.pk in listed
    assert access.visible_enrolments(partner).count() == 5
    assert access.visible_enrolments(world["staff"]).count() == 4
    client.force_login(world["staff"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = reverse("rehabilitation:enrolments")
    _queries(client, url)
    assert _queries(client, url) == PAGES["enrolment list"].queries
    grow(world, 10)
    assert _queries(client, url) == PAGES["enrolment list"].queries
