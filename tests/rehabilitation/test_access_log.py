"""The access log page: an institution's administrators see who viewed, changed or exported
its participants' data; nobody else sees that it exists."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from institutions.models import Membership
from rehabilitation.models import AccessLog
from rehabilitation.services.audit import record_access, record_bulk_access
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role


def _at(day: datetime.date, hour: int = 10) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


@pytest.fixture
def world():
    pekalongan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    batang = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    pks = factories.agreement(batang, pekalongan, status="signed")
    programme = factories.programme(pks, pekalongan, batang)
    one = factories.participant(pekalongan, register_number="B.I-0157/2025")
    two = factories.participant(pekalongan, register_number="B.I-0158/2025")
    elsewhere = factories.participant(batang, register_number="LAIN-001")
    factories.enrolment(one, programme)
    nurse = factories.user(
        "anis.perawat", institution=pekalongan, roles=(Role.PROGRAMME,), first_name="Anis"
    )
    counsellor = factories.user("konselor.bnnk", institution=batang, roles=(Role.PROGRAMME,))
    viewed = record_access(user=nurse, participant=one, action=AccessLog.Action.VIEW)
    AccessLog.objects.filter(pk=viewed.pk).update(at=_at(datetime.date(2025, 8, 12)))
    changed = record_access(
        user=counsellor, participant=one, action=AccessLog.Action.CHANGE, detail="progress note"
    )
    AccessLog.objects.filter(pk=changed.pk).update(at=_at(datetime.date(2025, 9, 1)))
    exported = record_bulk_access(
        user=counsellor,
        participants=[one, two],
        action=AccessLog.Action.EXPORT,
        detail="pseudonymised csv",
    )
    AccessLog.objects.filter(pk__in=[entry.pk for entry in exported]).update(
        at=_at(datetime.date(2025, 10, 1))
    )
    record_access(user=counsellor, participant=elsewhere, action=AccessLog.Action.VIEW)
    return {
        "pekalongan": pekalongan,
        "batang": batang,
        "one": one,
        "nurse": nurse,
        "counsellor": counsellor,
    }


def _url(world, key="pekalongan"):
    return reverse("rehabilitation:access_log", args=[world[key].pk])


def _login(client, user):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(_url(world))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("institution", "roles", "status"),
    [
        ("pekalongan", (Role.ADMIN,), 200),
        ("pekalongan", (Role.PROGRAMME,), 404),  # programme staff: not the log
        ("pekalongan", (Role.EDITOR, Role.VIEWER), 404),
        ("batang", (Role.ADMIN,), 404),  # another institution's administrator
    ],
)
def test_access_log_matrix(client, world, institution, roles, status):
    _login(client, factories.user(institution=world[institution], roles=roles))
    assert client.get(_url(world)).status_code == status


def test_superuser_sees_it_and_an_unknown_institution_is_404(client, world):
    _login(client, factories.user(is_superuser=True, is_staff=True))
    assert client.get(_url(world)).status_code == 200
    assert client.get(reverse("rehabilitation:access_log", args=[999999])).status_code == 404


def test_only_get(client, world):
    _login(client, factories.user(institution=world["pekalongan"], roles=(Role.ADMIN,)))
    assert client.post(_url(world)).status_code == 405


def test_the_log_shows_who_did_what_to_whom(client, world):
    _login(client, factories.user(institution=world["pekalongan"], roles=(Role.ADMIN,)))
    response = client.get(_url(world))
    assert response["Cache-Control"].startswith("max-age=0")
    entries = list(response.context["page"].object_list)
    assert len(entries) == 3  # not the line of Batang's own participant
    page = response.content.decode()
    # The export of two participants is one line, naming how many it listed.
    assert "B.I-0157/2025" in page and "2 participants" in page
    assert "LAIN-001" not in page
    assert "konselor.bnnk" in page and "Anis" in page
    assert "Exported" in page and "Changed" in page and "Viewed" in page
    assert "progress note" in page and "pseudonymised csv" in page
    assert "1 October 2025" in page
    # newest first
    assert [entry.action for entry in entries] == ["export", "change", "view"]


def test_filters(client, world):
    reader = factories.user(institution=world["pekalongan"], roles=(Role.ADMIN,))
    _login(client, reader)

    def actions(**query):
        response = client.get(_url(world), query)
        assert response.status_code == 200
        # Leaving out the lines this very reading of the log wrote.
        return sorted(
            entry.action
            for entry in response.context["page"].object_list
            if entry.detail != "access log"
        )

    assert actions(user=world["nurse"].pk) == ["view"]
    assert actions(user=world["counsellor"].pk) == ["change", "export"]
    assert actions(action="change") == ["change"]
    assert actions(date_from="2025-09-01") == ["change", "export"]
    assert actions(date_to="2025-09-01") == ["change", "view"]
    assert actions(date_from="2025-09-01", date_to="2025-09-30") == ["change"]
    # Only people in this institution's log are offered: the reader is, having read it.
    response = client.get(_url(world))
    offered = {user.pk for user in response.context["form"].fields["user"].queryset}
    assert offered == {world["nurse"].pk, world["counsellor"].pk, reader.pk}


def test_a_wrong_filter_is_a_form_error_not_a_failure(client, world):
    _login(client, factories.user(institution=world["pekalongan"], roles=(Role.ADMIN,)))
    for query in [
        {"date_from": "kemarin"},
        {"date_from": "2025-10-01", "date_to": "2025-09-01"},
        {"user": "999999"},
        {"action": "delete"},
    ]:
        response = client.get(_url(world), query)
        assert response.status_code == 200
        assert 'class="field-error"' in response.content.decode()


def test_pages_keep_the_filters(client, world):
    for _ in range(55):
        record_access(user=world["nurse"], participant=world["one"], action=AccessLog.Action.VIEW)
    _login(client, factories.user(institution=world["pekalongan"], roles=(Role.ADMIN,)))
    response = client.get(_url(world), {"action": "view"})
    page = response.context["page"]
    assert page.paginator.count == 56
    assert len(page.object_list) == 50
    assert "?action=view&amp;page=2" in response.content.decode()
    second = client.get(_url(world), {"action": "view", "page": 2})
    # One more: the first page's reading of the log, naming the participant it showed.
    assert len(second.context["page"].object_list) == 7


def test_access_log_query_count_is_pinned(client, world, django_assert_num_queries):
    _login(client, factories.user(institution=world["pekalongan"], roles=(Role.ADMIN,)))
    # session, user, roles, institution, the users offered, the count, the page, the reads
    # per user, the log of this read (its line and its records), and the session's save
    # (three)
    with django_assert_num_queries(13):
        assert client.get(_url(world)).status_code == 200
    for _ in range(46):
        record_access(user=world["nurse"], participant=world["one"], action=AccessLog.Action.VIEW)
    with django_assert_num_queries(13):
        response = client.get(_url(world))
    assert len(response.context["page"].object_list) == 50
