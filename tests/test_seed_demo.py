import datetime
import hashlib
import io
import re
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from pypdf import PdfReader

from agreements.models import Agreement, IssuedDocument, Meeting, StatusChange
from agreements.services import issuing
from config.demo import DEMO_AUTHOR, DEMO_PASSWORD, SEEDED_APPS, seed_demo
from institutions.models import History, Institution, Membership, Person
from rehabilitation import reports
from rehabilitation.models import Enrolment, EnrolmentEvent, Participant, Programme

pytestmark = pytest.mark.django_db

Status = Enrolment.Status


def _seeded_models():
    """Every model of the three apps (with many-to-many tables), plus users."""
    models = [
        model
        for label in SEEDED_APPS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    ]
    return [*models, get_user_model()]


def _snapshot() -> dict[str, list]:
    return {
        model._meta.label: sorted(model.objects.values_list("pk", flat=True))
        for model in _seeded_models()
    }


def _type(model) -> ContentType:
    return ContentType.objects.get_for_model(model)


def _run(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    return settings


@pytest.mark.usefixtures("debug")
def test_running_twice_leaves_the_same_rows():
    _run()
    first = _snapshot()
    _run()

    assert _snapshot() == first
    assert first["auth.User"]
    assert first[Membership._meta.label]
    assert first[Enrolment._meta.label]


@pytest.mark.usefixtures("debug")
def test_a_second_run_creates_nothing():
    created = seed_demo(with_accounts=True)
    assert created["agreements.Agreement"] == 1
    assert created["agreements.Article"] == 10

    again = seed_demo(with_accounts=True)

    assert again.keys() == created.keys()
    assert set(again.values()) == {0}


def test_the_scenario_of_the_news_report():
    _run("--no-accounts")

    institutions = {i.short_name: i for i in Institution.objects.all()}
    assert set(institutions) == {
        "Rutan Pemalang",
        "Rutan Pekalongan",
        "Lapas Pekalongan",
        "BNNK Batang",
    }
    assert institutions["Rutan Pemalang"].name == "Rumah Tahanan Negara Kelas IIB Pemalang"
    assert institutions["Rutan Pemalang"].grade == Institution.Grade.IIB
    assert institutions["BNNK Batang"].kind == Institution.Kind.BNNK
    assert {i.province for i in institutions.values()} == {"Jawa Tengah"}

    rutan_pemalang = institutions["Rutan Pemalang"]
    for name, title in [
        ("Indra Biantong", "Kasubsi Pelayanan Tahanan"),
        ("Anis Arum Nuraeni", "JFT Perawat"),
    ]:
        person = Person.objects.get(full_name=name)
        position = person.position_on(datetime.date(2025, 7, 29))
        assert (position.institution, position.title) == (rutan_pemalang, title)
        assert person.nip == ""
    assert not Person.objects.exclude(nip="").exists()

    agreement = Agreement.objects.get()
    assert agreement.kind == Agreement.Kind.PKS
    assert agreement.status == Agreement.Status.SIGNED
    assert agreement.signed_on == datetime.date(2025, 8, 4)
    assert agreement.end_date == datetime.date(2027, 8, 3)
    assert agreement.term_months == 24
    assert [(p.label, p.institution.short_name) for p in agreement.parties.all()] == [
        ("PIHAK PERTAMA", "BNNK Batang"),
        ("PIHAK KEDUA", "Rutan Pemalang"),
        ("PIHAK KETIGA", "Rutan Pekalongan"),
        ("PIHAK KEEMPAT", "Lapas Pekalongan"),
    ]
    assert all(p.number and p.signatory for p in agreement.parties.all())
    assert agreement.articles.count() == 10

    meeting = Meeting.objects.get()
    assert meeting.agreement == agreement
    assert (meeting.date, meeting.start_time) == (datetime.date(2025, 7, 29), datetime.time(9))
    assert meeting.end_time is None
    assert meeting.host == institutions["BNNK Batang"]
    assert "4 Agustus 2025" in meeting.decisions
    assert {a.institution.short_name for a in meeting.attendees.all()} == set(institutions)
    named = meeting.attendees.filter(institution=rutan_pemalang)
    assert {(a.person.full_name, a.position) for a in named} == {
        ("Indra Biantong", "Kasubsi Pelayanan Tahanan"),
        ("Anis Arum Nuraeni", "JFT Perawat"),
    }
    follow_up = meeting.follow_ups.get()
    assert follow_up.owner == institutions["Rutan Pekalongan"]
    assert follow_up.due_date == follow_up.done_on == datetime.date(2025, 8, 4)

    event = agreement.signing_event
    assert event.date == datetime.date(2025, 8, 4)
    assert event.host == institutions["Rutan Pekalongan"]

    programme = Programme.objects.get()
    assert programme.kind == Programme.Kind.SOCIAL
    assert programme.host == institutions["Rutan Pekalongan"]
    assert programme.agreement == agreement
    assert programme.launch_event == event
    assert programme.launch_date == datetime.date(2025, 8, 4)
    assert institutions["BNNK Batang"] in programme.partners.all()

    enrolments = programme.enrolments.select_related("participant")
    assert enrolments.count() >= 5
    assert {e.participant.status for e in enrolments} == set(Participant.Status.values)
    assert len({e.status for e in enrolments}) >= 4
    assert {e.participant.institution.short_name for e in enrolments} == {
        "Rutan Pekalongan",
        "Rutan Pemalang",
    }


def test_demo_accounts_need_debug_and_nothing_is_created_without_it(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--no-accounts"):
        _run()

    assert all(not pks for pks in _snapshot().values())


def test_no_accounts_loads_the_data_with_debug_off(settings):
    settings.DEBUG = False

    _run("--no-accounts")

    assert Agreement.objects.exists()
    assert Enrolment.objects.count() >= 5
    # Only the author of the history: inactive, no usable password, no roles.
    (author,) = get_user_model().objects.all()
    assert author.username == DEMO_AUTHOR
    assert not author.is_active and not author.has_usable_password()
    assert not Membership.objects.exists()


@pytest.mark.usefixtures("debug")
def test_demo_accounts_can_log_in(client):
    out = _run()

    assert DEMO_PASSWORD in out
    users = {u.username: u for u in get_user_model().objects.exclude(username=DEMO_AUTHOR)}
    assert set(users) == {"admin", "staf.pemalang", "staf.batang"}
    assert users["admin"].is_superuser and users["admin"].is_staff
    assert not users["staf.pemalang"].is_superuser
    assert {
        (m.user.username, m.institution.short_name, m.role)
        for m in Membership.objects.select_related("user", "institution")
    } == {
        ("staf.pemalang", "Rutan Pemalang", Membership.Role.EDITOR),
        ("staf.pemalang", "Rutan Pemalang", Membership.Role.PROGRAMME),
        ("staf.batang", "BNNK Batang", Membership.Role.EDITOR),
        ("staf.batang", "BNNK Batang", Membership.Role.PROGRAMME),
    }
    for username in users:
        assert client.login(username=username, password=DEMO_PASSWORD), username
        client.logout()
    assert not client.login(username=DEMO_AUTHOR, password=DEMO_PASSWORD)
    # The roles were granted through the staff service: each grant is in the history.
    assert History.objects.filter(content_type=_type(Membership), action="create").count() == 4


@pytest.mark.usefixtures("debug")
def test_the_password_is_reset_on_every_run(client):
    _run()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-by-someone")
    admin.save()

    _run()

    assert client.login(username="admin", password=DEMO_PASSWORD)


def test_an_edited_demo_agreement_is_found_again_and_left_alone():
    """A signed agreement is never edited (the services refuse it): the demo finds it again
    by its number and neither duplicates nor rewrites it."""
    _run("--no-accounts")
    agreement = Agreement.objects.get()
    Agreement.objects.filter(pk=agreement.pk).update(title="Judul yang diubah")

    _run("--no-accounts")

    assert list(Agreement.objects.values_list("pk", "title")) == [
        (agreement.pk, "Judul yang diubah")
    ]


# --- The states are the application's own -------------------------------------------------


@pytest.fixture(scope="module")
def _seeded_once(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo loaded once for the tests below, which only read it, in a transaction rolled
    back at the end of the module; its issued PDF in a media root of the module."""
    media_root = tmp_path_factory.mktemp("demo-media")
    with (
        override_settings(MEDIA_ROOT=media_root),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        seed_demo(with_accounts=False)
        yield media_root
        transaction.set_rollback(True)


@pytest.fixture
def seeded(_seeded_once, db, settings):
    settings.MEDIA_ROOT = _seeded_once
    return Programme.objects.select_related("agreement").get()


def test_the_agreement_went_through_every_status(seeded):
    agreement = seeded.agreement
    moves = list(
        StatusChange.objects.filter(agreement=agreement)
        .order_by("pk")
        .values_list("from_status", "to_status")
    )
    assert moves == [
        ("draft", "draft"),
        ("draft", "discussion"),
        ("discussion", "ready"),
        ("ready", "signed"),
    ]
    assert {change.changed_by.username for change in agreement.status_changes.all()} == {
        DEMO_AUTHOR
    }
    entries = History.objects.filter(content_type=_type(Agreement), object_id=str(agreement.pk))
    assert entries.filter(action="create").count() == 1
    assert entries.filter(action="change").count() >= 4  # parties, two moves, the signing
    assert agreement.signing_event.date == agreement.signed_on == datetime.date(2025, 8, 4)
    assert agreement.effective_date == datetime.date(2025, 8, 4)
    assert History.objects.filter(content_type=_type(Meeting)).exists()


def test_every_enrolment_has_its_events_and_dates(seeded):
    expected = {
        "Peserta Demo 01": ["screened", "assessed", "enrolled", *["in_phase"] * 3, "completed"],
        "Peserta Demo 02": [
            "screened",
            "assessed",
            "enrolled",
            "in_phase",
            "in_phase",
            "dropped_out",
        ],
        "Peserta Demo 03": ["screened", "assessed", "enrolled", "in_phase", "in_phase", "released"],
        "Peserta Demo 04": ["screened", "assessed", "enrolled", "in_phase", "in_phase"],
        "Peserta Demo 05": ["screened", "assessed", "enrolled"],
        "Peserta Demo 06": ["screened", "assessed", "enrolled", "in_phase"],
        "Peserta Demo 07": ["screened", "assessed"],
    }
    enrolments = {
        e.participant.full_name: e for e in seeded.enrolments.select_related("participant")
    }
    assert set(enrolments) == set(expected)
    for name, statuses in expected.items():
        enrolment = enrolments[name]
        events = list(enrolment.events.order_by("date", "pk"))
        assert [event.to_status for event in events] == statuses, name
        assert enrolment.status == statuses[-1], name
        assert enrolment.screenings.exists() and enrolment.assessments.exists(), name
        dates = [event.date for event in events]
        assert dates == sorted(dates) and dates[0] == enrolment.start_date, name
        if "enrolled" in statuses:
            assert enrolment.enrolled_on == dates[statuses.index("enrolled")], name
        else:
            assert enrolment.enrolled_on is None, name
        if enrolment.status in (Status.COMPLETED, Status.DROPPED_OUT, Status.RELEASED):
            assert enrolment.end_date == dates[-1] and enrolment.current_phase is None, name
    in_phase = enrolments["Peserta Demo 04"]
    assert in_phase.current_phase.order == 2
    assert in_phase.phases.filter(end_date__isnull=True).count() == 1
    completed = enrolments["Peserta Demo 01"]
    assert completed.recovered is True
    assert not completed.phases.filter(end_date__isnull=True).exists()
    assert EnrolmentEvent.objects.exclude(recorded_by__username=DEMO_AUTHOR).count() == 0


def test_the_official_document_is_issued_and_verifiable(seeded, client):
    document = IssuedDocument.objects.get(agreement=seeded.agreement)
    data = issuing.read_issued(document)
    assert hashlib.sha256(data).hexdigest() == document.sha256
    assert len(data) == document.size
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "PERJANJIAN KERJA SAMA" in text
    assert "BADAN NARKOTIKA NASIONAL KABUPATEN BATANG" in text.upper()

    page = client.get(reverse("public:verify", args=[document.verification_code]))
    assert page.status_code == 200
    assert document.sha256 in page.content.decode()


def test_statistics_count_the_demo_programme(seeded, client, settings):
    """Six people were ever enrolled (the seventh is only assessed), three are still active
    and one completed; every count is under 10, so the public page withholds all three."""
    (line,) = reports.public_counts(Programme.objects.filter(pk=seeded.pk).select_related("tally"))
    tally = line.programme.tally
    assert (tally.enrolled, tally.active, tally.completed) == (
        6,
        3,
        1,
    )
    assert all(cell.small and not cell.shown for cell in line.cells)

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("rehabilitation:public_statistics")).content.decode()
    row = re.search(rf"<tr><th scope=\"row\">{seeded.name}<br>.*?</tr>", page, re.S).group(0)
    cells = [cell.strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)[-3:]]
    assert cells == ["&lt; 10", "&lt; 10", "&lt; 10"]


def test_the_programme_report_counts_the_demo_enrolments(seeded):
    figures = reports.programme_figures(
        programme=seeded,
        period=reports.Period(datetime.date(2025, 1, 1), datetime.date(2026, 12, 31)),
        today=datetime.date(2026, 12, 1),
    )
    assert figures.enrolled == 6
    assert figures.completed == 1
    assert figures.dropped_out == 1
    assert figures.active == 3
