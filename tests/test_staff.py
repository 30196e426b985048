"""Staff log in, see their institution's work, and nothing of other institutions' detainees."""

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agreements.models import FollowUp, Meeting
from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role


@pytest.fixture
def world():
    pemalang = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    pekalongan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    batang = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    elsewhere = factories.institution("Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas")
    pks = factories.agreement(batang, pekalongan, status="signed", title="PKS Batang-Pekalongan")
    programme = factories.programme(pks, pekalongan, batang, name="Program Sosial Pekalongan")
    held = factories.participant(pekalongan, full_name="Peserta Pekalongan")
    factories.enrolment(held, programme)
    other = factories.participant(elsewhere, full_name="Peserta Semarang")
    return {
        "pemalang": pemalang,
        "pekalongan": pekalongan,
        "batang": batang,
        "elsewhere": elsewhere,
        "pks": pks,
        "programme": programme,
        "held": held,
        "other": other,
    }


def test_login_page_and_login_with_csrf_then_logout():
    factories.user("staf.uji", institution=factories.institution())
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(reverse("login"))
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    response = browser.post(
        reverse("login"),
        {"username": "staf.uji", "password": factories.PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:home")
    assert browser.get(reverse("staff:home")).status_code == 200
    token = browser.cookies["csrftoken"].value
    response = browser.post(reverse("logout"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert browser.get(reverse("staff:home")).status_code == 302


def test_wrong_password_shows_a_message(client):
    factories.user("staf.uji")
    response = client.post(reverse("login"), {"username": "staf.uji", "password": "wrong"})
    assert response.status_code == 200
    assert "error" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_anonymous_is_sent_to_login(client, world):
    for url in [
        reverse("staff:home"),
        reverse("rehabilitation:programme", args=[world["programme"].pk]),
        reverse("rehabilitation:participant", args=[world["held"].pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


def test_account_without_institution_gets_an_explanation(client):
    client.force_login(factories.user())
    response = client.get(reverse("staff:home"))
    assert response.status_code == 403
    assert "belum terhubung dengan instansi" in response.content.decode()


def test_home_shows_own_agreements_meetings_and_programmes(client, world):
    today = timezone.localdate()
    Meeting.objects.create(
        agreement=world["pks"],
        date=today + datetime.timedelta(days=3),
        start_time=datetime.time(9),
        venue="Kantor BNNK Batang",
        host=world["batang"],
    )
    unrelated = factories.agreement(world["elsewhere"], factories.institution(), title="PKS Lain")
    client.force_login(factories.user(institution=world["batang"]))
    page = client.get(reverse("staff:home")).content.decode()
    assert "PKS Batang-Pekalongan" in page
    assert "Kantor BNNK Batang" in page
    assert "Program Sosial Pekalongan" in page
    assert unrelated.title not in page


def test_home_lists_expiring_agreements_and_open_follow_ups(client, world):
    today = timezone.localdate()
    expiring = factories.agreement(
        world["batang"],
        world["pemalang"],
        status="signed",
        title="PKS Hampir Berakhir",
        effective_date=today - datetime.timedelta(days=700),
        end_date=today + datetime.timedelta(days=30),
    )
    later = factories.agreement(
        world["batang"],
        world["pemalang"],
        status="signed",
        title="PKS Masih Lama",
        effective_date=today - datetime.timedelta(days=10),
        end_date=today + datetime.timedelta(days=400),
    )
    meeting = Meeting.objects.create(
        agreement=expiring,
        date=today - datetime.timedelta(days=20),
        start_time=datetime.time(9),
        venue="Kantor BNNK Batang",
        host=world["batang"],
    )
    FollowUp.objects.create(
        meeting=meeting,
        description="Menyiapkan naskah perpanjangan",
        owner=world["batang"],
        due_date=today - datetime.timedelta(days=1),
    )
    FollowUp.objects.create(
        meeting=meeting,
        description="Tindak lanjut selesai",
        owner=world["batang"],
        due_date=today - datetime.timedelta(days=5),
        done_on=today - datetime.timedelta(days=6),
    )
    client.force_login(factories.user(institution=world["batang"]))
    response = client.get(reverse("staff:home"))
    assert [a.title for a in response.context["expiring"].object_list] == [expiring.title]
    assert later.title not in [a.title for a in response.context["expiring"].object_list]
    page = response.content.decode()
    assert "Menyiapkan naskah perpanjangan" in page
    assert "Tindak lanjut selesai" not in page
    assert 'class="overdue"' in page


def test_home_query_count_is_pinned(client, world, django_assert_num_queries):
    user = factories.user(institution=world["batang"])
    for _ in range(5):
        factories.agreement(world["batang"], factories.institution())
    client.force_login(user)
    # Each section: a capped count, and its top rows when there are any (see also
    # tests/test_staff_home_queries.py).
    with django_assert_num_queries(15):
        client.get(reverse("staff:home"))
    for _ in range(20):
        factories.agreement(world["batang"], factories.institution())
    with django_assert_num_queries(15):
        client.get(reverse("staff:home"))


@pytest.mark.parametrize(
    ("institution", "roles", "sees_participant"),
    [
        ("pekalongan", (Role.PROGRAMME,), True),  # held there, host of the programme
        ("batang", (Role.PROGRAMME,), True),  # partner of the programme
        ("batang", (Role.ADMIN,), True),
        ("batang", (Role.EDITOR, Role.VIEWER), False),  # agreement work, no personal data
        ("pemalang", (Role.PROGRAMME, Role.ADMIN), False),  # unrelated institution
        ("elsewhere", (Role.PROGRAMME,), False),
    ],
)
def test_participant_access(client, world, institution, roles, sees_participant):
    client.force_login(factories.user(institution=world[institution], roles=roles))
    response = client.get(reverse("rehabilitation:participant", args=[world["held"].pk]))
    assert response.status_code == (200 if sees_participant else 404)
    page = client.get(reverse("rehabilitation:programme", args=[world["programme"].pk]))
    if institution in ("pekalongan", "batang"):
        assert page.status_code == 200
        assert ("Peserta Pekalongan" in page.content.decode()) is sees_participant
    else:
        assert page.status_code == 404


def test_another_institutions_participant_is_404(client, world):
    client.force_login(factories.user(institution=world["pekalongan"], roles=(Role.PROGRAMME,)))
    response = client.get(reverse("rehabilitation:participant", args=[world["other"].pk]))
    assert response.status_code == 404
    assert "Peserta Semarang" not in response.content.decode()


def test_unknown_participant_is_404_like_a_forbidden_one(client, world):
    client.force_login(factories.user(institution=world["pekalongan"], roles=(Role.PROGRAMME,)))
    missing_url = reverse("rehabilitation:participant", args=[999999])
    forbidden_url = reverse("rehabilitation:participant", args=[world["other"].pk])
    missing = client.get(missing_url)
    forbidden = client.get(forbidden_url)
    assert missing.status_code == forbidden.status_code == 404

    def normalised(response, url):
        # The pages differ only by the URL asked for (kept for the language switch) and the
        # per-response masking of the CSRF token.
        page = response.content.decode().replace(url, "")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)

    assert normalised(missing, missing_url) == normalised(forbidden, forbidden_url)


def test_superuser_sees_every_participant(client, world):
    client.force_login(factories.user(is_superuser=True, is_staff=True))
    response = client.get(reverse("rehabilitation:participant", args=[world["other"].pk]))
    assert response.status_code == 200


def test_inactive_member_sees_nothing(client, world):
    user = factories.user(institution=world["pekalongan"], roles=(Role.PROGRAMME,))
    client.force_login(user)
    user.is_active = False
    user.save()
    response = client.get(reverse("rehabilitation:participant", args=[world["held"].pk]))
    assert response.status_code in (302, 404)


def test_the_home_page_title_is_plain_text(client, world):
    client.force_login(factories.user(institution=world["batang"]))
    page = client.get(reverse("staff:home")).content.decode()
    [title] = re.findall(r"<title>(.*?)</title>", page, flags=re.S)
    assert "<" not in title and "Institution" not in title, title
