import datetime
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from agreements.models import Agreement, Meeting
from institutions.models import Institution, Membership, Person
from config.demo import DEMO_PASSWORD, seed_demo
from rehabilitation.models import Enrolment, Participant, Programme

pytestmark = pytest.mark.django_db

SEEDED_APPS = ("institutions", "agreements", "rehabilitation")


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
    assert not get_user_model().objects.exists()
    assert not Membership.objects.exists()


@pytest.mark.usefixtures("debug")
def test_demo_accounts_can_log_in(client):
    out = _run()

    assert DEMO_PASSWORD in out
    users = {u.username: u for u in get_user_model().objects.all()}
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


@pytest.mark.usefixtures("debug")
def test_the_password_is_reset_on_every_run(client):
    _run()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-by-someone")
    admin.save()

    _run()

    assert client.login(username="admin", password=DEMO_PASSWORD)


def test_an_edited_demo_agreement_is_found_again_and_reset():
    _run("--no-accounts")
    agreement = Agreement.objects.get()
    Agreement.objects.filter(pk=agreement.pk).update(title="Judul yang diubah")

    _run("--no-accounts")

    assert list(Agreement.objects.values_list("pk", "title")) == [
        (agreement.pk, "PKS P4GN dan Rehabilitasi Narkotika bagi Tahanan dan Narapidana")
    ]
