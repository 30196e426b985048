"""Two staff editing the same record: the second save is refused with a message saying who
changed what, the second user's input is kept on the page, and nothing is overwritten.

Each test loads the edit page in two browsers, as two people would, and submits both."""

from __future__ import annotations

import datetime
import re

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from agreements.models import Agreement, Meeting
from agreements.services import lifecycle
from agreements.services import meetings as meeting_services
from institutions.models import Institution
from tests import factories

pytestmark = pytest.mark.django_db

Status = Agreement.Status
STALE = "Someone else saved this record while you were editing it"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def world():
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    bnnk = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind=Institution.Kind.BNNK
    )
    ani = factories.user("ani", institution=rutan)
    budi = factories.user("budi", institution=bnnk)
    agreement = lifecycle.agreement_create(
        user=ani, title="PKS Uji", subject="Rehabilitasi", institutions=[rutan, bnnk]
    )
    return {"rutan": rutan, "bnnk": bnnk, "ani": ani, "budi": budi, "agreement": agreement}


def browser(user) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(user)
    return client


def hidden_version(page) -> int:
    """The version a page's form will send back."""
    found = re.search(r'name="version" value="(\d+)"', page.content.decode())
    assert found, "the form carries no version"
    return int(found.group(1))


def form_data(page, **changes) -> dict:
    """What the browser sends for the form on `page`: its initial values (with the version
    it was loaded with), then the user's `changes`."""
    form = page.context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None:
            continue
        if isinstance(value, datetime.date | datetime.time):
            value = value.isoformat()
        data[form.add_prefix(name)] = value
    return {**data, **changes}


def refusal(page) -> str:
    errors = page.context["form"].non_field_errors()
    assert errors, "the page shows no refusal"
    return " ".join(errors)


# --- the details of an agreement ---------------------------------------------------------


def test_second_save_of_the_details_is_refused_and_keeps_the_input(world):
    url = reverse("agreements:edit", args=[world["agreement"].pk])
    ani, budi = browser(world["ani"]), browser(world["budi"])
    ani_page, budi_page = ani.get(url), budi.get(url)
    assert hidden_version(ani_page) == hidden_version(budi_page) == 1

    first = ani.post(url, form_data(ani_page, title="PKS dari Ani", notice_days="60"))
    assert first.status_code == 302

    second = budi.post(url, form_data(budi_page, title="PKS dari Budi", subject="Ubah subjek"))
    assert second.status_code == 200
    message = refusal(second)
    assert STALE in message
    assert "ani" in message  # who
    assert "short title: PKS dari Ani" in message  # what they changed, by its name
    assert "notice period (days): 60" in message
    assert "Nothing of yours was saved" in message
    html = second.content.decode()
    assert html.index(STALE) < html.index('name="title"')  # the message on top
    assert 'value="PKS dari Budi"' in html  # Budi's input is kept
    assert "Ubah subjek" in html

    agreement = Agreement.objects.get(pk=world["agreement"].pk)
    assert (agreement.title, agreement.subject, agreement.notice_days) == (
        "PKS dari Ani",
        "Rehabilitasi",
        60,
    )
    assert agreement.version == 2
    # The page now carries the current version: saving again, knowingly, goes through.
    assert hidden_version(second) == 2
    again = budi.post(url, form_data(second))
    assert again.status_code == 302
    agreement.refresh_from_db()
    assert (agreement.title, agreement.subject, agreement.version) == (
        "PKS dari Budi",
        "Ubah subjek",
        3,
    )


def test_a_move_made_meanwhile_makes_the_text_edit_stale(world):
    url = reverse("agreements:edit", args=[world["agreement"].pk])
    budi = browser(world["budi"])
    page = budi.get(url)
    lifecycle.agreement_move(
        agreement=world["agreement"], user=world["ani"], to_status=Status.DISCUSSION
    )
    response = budi.post(url, form_data(page, title="PKS dari Budi"))
    assert response.status_code == 200
    assert "status: discussion" in refusal(response)
    assert Agreement.objects.get(pk=world["agreement"].pk).title == "PKS Uji"


def test_an_admin_save_made_meanwhile_makes_the_edit_stale(world):
    url = reverse("agreements:edit", args=[world["agreement"].pk])
    budi = browser(world["budi"])
    page = budi.get(url)
    admin = Client()
    admin.force_login(factories.user("root", is_superuser=True, is_staff=True))
    agreement = world["agreement"]
    data = {
        "kind": agreement.kind,
        "title": "PKS dari admin",
        "subject": agreement.subject,
        "status": agreement.status,
        "notice_days": "90",
        "considerations": agreement.considerations,
        "legal_basis": agreement.legal_basis,
        **{f"parties-{k}": v for k, v in {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0"}.items()},
        **{f"articles-{k}": v for k, v in {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0"}.items()},
    }
    response = admin.post(reverse("admin:agreements_agreement_change", args=[agreement.pk]), data)
    assert response.status_code == 302
    assert Agreement.objects.get(pk=agreement.pk).version == 2

    response = budi.post(url, form_data(page, title="PKS dari Budi"))
    assert STALE in refusal(response)
    assert "root" in refusal(response)
    assert Agreement.objects.get(pk=agreement.pk).title == "PKS dari admin"


def test_a_form_without_its_version_saves_nothing(world):
    url = reverse("agreements:edit", args=[world["agreement"].pk])
    budi = browser(world["budi"])
    data = form_data(budi.get(url), title="PKS tanpa versi")
    for version in (None, "", "abc", "0", "-3"):
        if version is None:
            data.pop("version")
        else:
            data["version"] = version
        response = budi.post(url, data)
        assert response.status_code == 200
        assert "did not say which version" in refusal(response)
        assert hidden_version(response) == 1  # saving again is possible, knowingly
    assert Agreement.objects.get(pk=world["agreement"].pk).title == "PKS Uji"


def test_the_service_refuses_a_stale_version(world):
    lifecycle.agreement_update(
        agreement=world["agreement"], user=world["ani"], version=1, title="Pertama"
    )
    with pytest.raises(ValidationError) as refused:
        lifecycle.agreement_update(
            agreement=world["agreement"], user=world["budi"], version=1, title="Kedua"
        )
    assert refused.value.code == "stale"
    assert "short title: Pertama" in refused.value.messages[0]
    assert Agreement.objects.get(pk=world["agreement"].pk).title == "Pertama"


# --- parties and articles ------------------------------------------------------------------


def formset_data(page, prefix: str, rows: list[dict]) -> dict:
    data = {
        "version": hidden_version(page),
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "100",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{index}-{key}"] = value
    return data


def formset_refusal(page) -> str:
    errors = page.context["version_form"].non_field_errors()
    assert errors, "the page shows no refusal"
    return " ".join(errors)


def test_second_save_of_the_parties_is_refused(world):
    url = reverse("agreements:parties", args=[world["agreement"].pk])
    rutan, bnnk = world["rutan"].pk, world["bnnk"].pk
    ani, budi = browser(world["ani"]), browser(world["budi"])
    ani_page, budi_page = ani.get(url), budi.get(url)

    first = ani.post(
        url,
        formset_data(
            ani_page,
            "parties",
            [{"institution": rutan, "number": "R/ANI"}, {"institution": bnnk, "number": "B/ANI"}],
        ),
    )
    assert first.status_code == 302
    second = budi.post(
        url,
        formset_data(
            budi_page,
            "parties",
            [{"institution": bnnk, "number": "B/BUDI"}, {"institution": rutan, "number": "R/BUDI"}],
        ),
    )
    assert second.status_code == 200
    message = formset_refusal(second)
    assert STALE in message and "ani" in message
    assert "parties" in message and "R/ANI" in message
    html = second.content.decode()
    assert html.index(STALE) < html.index("parties-0-institution")
    assert 'value="B/BUDI"' in html and 'value="R/BUDI"' in html
    assert hidden_version(second) == 2
    parties = world["agreement"].parties.order_by("order")
    assert [(p.institution_id, p.number) for p in parties] == [(rutan, "R/ANI"), (bnnk, "B/ANI")]


def test_second_save_of_the_articles_is_refused(world):
    url = reverse("agreements:articles", args=[world["agreement"].pk])
    ani, budi = browser(world["ani"]), browser(world["budi"])
    ani_page, budi_page = ani.get(url), budi.get(url)

    first = ani.post(url, formset_data(ani_page, "articles", [{"heading": "Ani", "body": "A"}]))
    assert first.status_code == 302
    second = budi.post(
        url, formset_data(budi_page, "articles", [{"heading": "Budi", "body": "Isi Budi"}])
    )
    assert second.status_code == 200
    message = formset_refusal(second)
    assert STALE in message and "articles" in message and "Pasal 1 — Ani" in message
    assert 'value="Budi"' in second.content.decode()
    assert "Isi Budi" in second.content.decode()
    assert list(world["agreement"].articles.values_list("heading", "body")) == [("Ani", "A")]


def test_a_formset_page_without_its_version_saves_nothing(world):
    url = reverse("agreements:articles", args=[world["agreement"].pk])
    budi = browser(world["budi"])
    data = formset_data(budi.get(url), "articles", [{"heading": "Budi", "body": "B"}])
    del data["version"]
    response = budi.post(url, data)
    assert response.status_code == 200
    assert "did not say which version" in formset_refusal(response)
    assert world["agreement"].articles.count() == 10


# --- meetings -------------------------------------------------------------------------------


def test_second_save_of_a_meeting_is_refused(world):
    meeting = meeting_services.meeting_schedule(
        agreement=world["agreement"],
        user=world["ani"],
        date=datetime.date(2025, 7, 29),
        start_time=datetime.time(9),
        end_time=None,
        venue="Kantor BNNK Batang",
        host=world["bnnk"],
    )
    url = reverse("agreements:meeting_edit", args=[meeting.pk])
    ani, budi = browser(world["ani"]), browser(world["budi"])
    ani_page, budi_page = ani.get(url), budi.get(url)
    assert hidden_version(ani_page) == 1

    first = ani.post(url, form_data(ani_page, minutes="Notulen Ani", venue="Aula Rutan"))
    assert first.status_code == 302
    second = budi.post(url, form_data(budi_page, minutes="Notulen Budi", decisions="Sepakat"))
    assert second.status_code == 200
    message = refusal(second)
    assert STALE in message and "ani" in message
    assert "minutes: Notulen Ani" in message and "venue: Aula Rutan" in message
    html = second.content.decode()
    assert html.index(STALE) < html.index('name="minutes"')
    assert "Notulen Budi" in html and "Sepakat" in html
    assert "Please correct the errors below" not in html  # no field is in error
    assert hidden_version(second) == 2

    meeting = Meeting.objects.get(pk=meeting.pk)
    assert (meeting.minutes, meeting.venue, meeting.decisions, meeting.version) == (
        "Notulen Ani",
        "Aula Rutan",
        "",
        2,
    )


def test_attendees_and_follow_ups_do_not_make_the_minutes_stale(world):
    """Adding an attendee or a follow-up touches nothing the edit form holds."""
    meeting = meeting_services.meeting_schedule(
        agreement=world["agreement"],
        user=world["ani"],
        date=datetime.date(2025, 7, 29),
        start_time=datetime.time(9),
        end_time=None,
        venue="Kantor BNNK Batang",
        host=world["bnnk"],
    )
    url = reverse("agreements:meeting_edit", args=[meeting.pk])
    budi = browser(world["budi"])
    page = budi.get(url)
    meeting_services.attendee_add(
        meeting=meeting, user=world["ani"], institution=world["rutan"], new_full_name="Sari"
    )
    response = budi.post(url, form_data(page, minutes="Notulen Budi"))
    assert response.status_code == 302
    assert Meeting.objects.get(pk=meeting.pk).minutes == "Notulen Budi"
