"""The staff pages of the agreement lifecycle: every view against anonymous, outsider, viewer,
editor, and the wrong method; and what each successful request changed."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from agreements.models import Agreement, SigningEvent
from agreements.services import lifecycle
from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = Agreement.Status


@pytest.fixture
def world():
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    bnnk = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    editor = factories.user("editor", institution=rutan)
    agreement = lifecycle.agreement_create(
        user=editor,
        title="PKS Uji",
        subject="Rehabilitasi",
        institutions=[rutan, bnnk],
        term_months=24,
    )
    return {
        "rutan": rutan,
        "bnnk": bnnk,
        "editor": editor,
        "viewer": factories.user("viewer", institution=rutan, roles=(Role.VIEWER,)),
        "outsider": factories.user("outsider", institution=factories.institution()),
        "agreement": agreement,
    }


def ready(world):
    agreement = world["agreement"]
    lifecycle.parties_replace(
        agreement=agreement,
        user=world["editor"],
        parties=[
            {
                "institution": world["rutan"],
                "number": "R-1",
                "signatory": factories.person(),
                "signatory_position": "Kepala Rutan",
            },
            {
                "institution": world["bnnk"],
                "number": "B-1",
                "signatory": factories.person(),
                "signatory_position": "Kepala BNNK",
            },
        ],
    )
    for status in (Status.DISCUSSION, Status.READY):
        lifecycle.agreement_move(agreement=agreement, user=world["editor"], to_status=status)
    return agreement


def signed(world):
    agreement = ready(world)
    lifecycle.signing_event_record(
        user=world["editor"],
        date=datetime.date(2025, 8, 4),
        venue="Rutan Pekalongan",
        host=world["rutan"],
        agreements=[agreement],
    )
    agreement.refresh_from_db()
    return agreement


# (url name, needs an agreement pk, method, is a write)
PAGES = [
    ("agreements:detail", True, "get", False),
    ("agreements:edit", True, "get", True),
    ("agreements:parties", True, "get", True),
    ("agreements:articles", True, "get", True),
    ("agreements:move", True, "post", True),
    ("agreements:terminate", True, "get", True),
    ("agreements:addendum", True, "get", True),
    ("agreements:renew", True, "post", True),
    ("agreements:archive", True, "post", True),
    ("agreements:restore", True, "post", True),
]


def url(name, world, with_pk):
    return reverse(name, args=[world["agreement"].pk]) if with_pk else reverse(name)


@pytest.mark.parametrize(("name", "with_pk", "method", "write"), PAGES)
def test_anonymous_goes_to_login(client, world, name, with_pk, method, write):
    response = getattr(client, method)(url(name, world, with_pk))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "with_pk", "method", "write"), PAGES)
def test_outsider_gets_404(client, world, name, with_pk, method, write):
    client.force_login(world["outsider"])
    assert getattr(client, method)(url(name, world, with_pk)).status_code == 404


@pytest.mark.parametrize(("name", "with_pk", "method", "write"), PAGES)
def test_viewer_reads_but_cannot_write(client, world, name, with_pk, method, write):
    client.force_login(world["viewer"])
    response = getattr(client, method)(url(name, world, with_pk))
    assert response.status_code == (403 if write else 200)


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("agreements:detail", "post"),
        ("agreements:move", "get"),
        ("agreements:renew", "get"),
        ("agreements:archive", "get"),
        ("agreements:restore", "get"),
    ],
)
def test_wrong_method(client, world, name, method):
    client.force_login(world["editor"])
    assert getattr(client, method)(url(name, world, True)).status_code == 405


def test_create_through_the_form(client, world):
    client.force_login(world["editor"])
    assert client.get(reverse("agreements:create")).status_code == 200
    response = client.post(
        reverse("agreements:create"),
        {
            "kind": "pks",
            "title": "PKS Baru",
            "subject": "Pencegahan Narkotika",
            "first_party": world["rutan"].pk,
            "other_parties": [world["bnnk"].pk],
            "term_months": "12",
        },
    )
    created = Agreement.objects.get(title="PKS Baru")
    assert response.status_code == 302
    assert response["Location"] == reverse("agreements:detail", args=[created.pk])
    assert created.articles.count() == 10
    assert [p.institution for p in created.parties.all()] == [world["rutan"], world["bnnk"]]


def test_create_refuses_bad_input_and_saves_nothing(client, world):
    client.force_login(world["editor"])
    before = Agreement.objects.count()
    response = client.post(
        reverse("agreements:create"),
        {
            "kind": "pks",
            "title": "",
            "subject": "x",
            "first_party": world["rutan"].pk,
            "other_parties": [world["rutan"].pk],
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert Agreement.objects.count() == before


def test_create_offers_only_own_institutions_as_first_party(client, world):
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:create"),
        {
            "kind": "pks",
            "title": "X",
            "subject": "Y",
            "first_party": world["bnnk"].pk,
            "other_parties": [world["rutan"].pk],
        },
    )
    assert "first_party" in response.context["form"].errors


def test_detail_shows_parties_history_and_actions_for_an_editor(client, world):
    client.force_login(world["editor"])
    page = client.get(url("agreements:detail", world, True)).content.decode()
    assert "PIHAK PERTAMA" in page and "PIHAK KEDUA" in page
    assert reverse("agreements:parties", args=[world["agreement"].pk]) in page
    assert world["editor"].username in page  # the history names who created it


def test_detail_query_count(client, world, django_assert_max_num_queries):
    client.force_login(world["editor"])
    with django_assert_max_num_queries(25):
        client.get(url("agreements:detail", world, True))


def test_edit_details(client, world):
    client.force_login(world["editor"])
    response = client.post(
        url("agreements:edit", world, True),
        {
            "title": "PKS Diubah",
            "subject": "Baru",
            "notice_days": "60",
            "term_months": "24",
            "considerations": "",
            "legal_basis": "",
            "signing_place": "",
            "version": world["agreement"].version,
        },
    )
    assert response.status_code == 302
    world["agreement"].refresh_from_db()
    assert (world["agreement"].title, world["agreement"].notice_days) == ("PKS Diubah", 60)


def test_edit_refuses_end_before_start(client, world):
    client.force_login(world["editor"])
    response = client.post(
        url("agreements:edit", world, True),
        {
            "title": "T",
            "subject": "S",
            "notice_days": "90",
            "effective_date": "2026-01-02",
            "end_date": "2026-01-01",
            "version": world["agreement"].version,
        },
    )
    assert response.status_code == 200
    world["agreement"].refresh_from_db()
    assert world["agreement"].title == "PKS Uji"


@pytest.mark.parametrize(
    ("notice_days", "end_date"), [("78021027", "2027-01-01"), ("3650", "0005-01-01")]
)
def test_edit_refuses_a_notice_period_without_a_date_and_changes_nothing(
    client, world, notice_days, end_date
):
    client.force_login(world["editor"])
    response = client.post(
        url("agreements:edit", world, True),
        {
            "title": "T",
            "subject": "S",
            "notice_days": notice_days,
            "end_date": end_date,
            "version": world["agreement"].version,
        },
    )
    assert response.status_code == 200
    assert "notice_days" in response.context["form"].errors
    world["agreement"].refresh_from_db()
    assert (world["agreement"].title, world["agreement"].notice_days) == ("PKS Uji", 90)


def party_data(*rows, version=1):
    data = {
        "version": str(version),
        "parties-TOTAL_FORMS": str(len(rows)),
        "parties-INITIAL_FORMS": "0",
        "parties-MIN_NUM_FORMS": "0",
        "parties-MAX_NUM_FORMS": "20",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"parties-{index}-{key}"] = value
    return data


def test_parties_formset_saves_order_and_numbers(client, world):
    client.force_login(world["editor"])
    lapas = factories.institution(kind="lapas")
    response = client.post(
        url("agreements:parties", world, True),
        party_data(
            {"institution": world["bnnk"].pk, "number": "B/1"},
            {"institution": world["rutan"].pk, "number": "R/1"},
            {"institution": lapas.pk, "number": ""},
        ),
    )
    assert response.status_code == 302
    parties = list(world["agreement"].parties.order_by("order"))
    assert [(p.institution, p.number) for p in parties] == [
        (world["bnnk"], "B/1"),
        (world["rutan"], "R/1"),
        (lapas, ""),
    ]


def test_parties_formset_refuses_the_same_institution_twice(client, world):
    client.force_login(world["editor"])
    response = client.post(
        url("agreements:parties", world, True),
        party_data({"institution": world["rutan"].pk}, {"institution": world["rutan"].pk}),
    )
    assert response.status_code == 200
    assert response.context["formset"].non_form_errors()
    assert world["agreement"].parties.count() == 2


def test_articles_formset(client, world):
    client.force_login(world["editor"])
    data = {
        "version": world["agreement"].version,
        "articles-TOTAL_FORMS": "2",
        "articles-INITIAL_FORMS": "0",
        "articles-MIN_NUM_FORMS": "0",
        "articles-MAX_NUM_FORMS": "100",
        "articles-0-heading": "Maksud",
        "articles-0-body": "Isi satu",
        "articles-1-heading": "Hapus saya",
        "articles-1-body": "x",
        "articles-1-DELETE": "on",
    }
    assert client.post(url("agreements:articles", world, True), data).status_code == 302
    assert list(world["agreement"].articles.values_list("number", "heading")) == [(1, "Maksud")]


def test_move_through_the_page(client, world):
    client.force_login(world["editor"])
    client.post(url("agreements:move", world, True), {"to_status": "discussion"})
    world["agreement"].refresh_from_db()
    assert world["agreement"].status == Status.DISCUSSION
    response = client.post(
        url("agreements:move", world, True), {"to_status": "signed"}, follow=True
    )
    world["agreement"].refresh_from_db()
    assert world["agreement"].status == Status.DISCUSSION
    assert list(response.context["messages"])


@pytest.mark.parametrize("name", ["agreements:edit", "agreements:parties", "agreements:articles"])
def test_signed_agreement_forms_refuse(client, world, name):
    agreement = signed(world)
    client.force_login(world["editor"])
    response = client.get(reverse(name, args=[agreement.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("agreements:detail", args=[agreement.pk])
    with pytest.raises(ValidationError) as refusal:
        lifecycle.ensure_editable(agreement)
    assert [str(m) for m in response.context["messages"]] == refusal.value.messages
    response = client.post(
        reverse(name, args=[agreement.pk]),
        {"title": "Diubah", "subject": "x", "notice_days": "90"},
    )
    assert response.status_code == 302
    agreement.refresh_from_db()
    assert agreement.title == "PKS Uji"


def test_signing_page_signs_and_links(client, world):
    agreement = ready(world)
    client.force_login(world["editor"])
    page = client.get(reverse("agreements:signing_create"))
    assert agreement.title in page.content.decode()
    response = client.post(
        reverse("agreements:signing_create"),
        {
            "date": "2025-08-04",
            "start_time": "09:00",
            "venue": "Rutan Pekalongan",
            "host": world["rutan"].pk,
            "agreements": [agreement.pk],
            "notes": "",
        },
    )
    event = SigningEvent.objects.get()
    assert response["Location"] == reverse("agreements:signing_detail", args=[event.pk])
    agreement.refresh_from_db()
    assert agreement.status == Status.SIGNED and agreement.signing_event == event
    assert agreement.title in client.get(response["Location"]).content.decode()


def test_signing_page_refuses_an_incomplete_agreement_and_saves_nothing(client, world):
    agreement = world["agreement"]
    for status in (Status.DISCUSSION, Status.READY):
        lifecycle.agreement_move(agreement=agreement, user=world["editor"], to_status=status)
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:signing_create"),
        {
            "date": "2025-08-04",
            "venue": "Rutan",
            "host": world["rutan"].pk,
            "agreements": [agreement.pk],
        },
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not SigningEvent.objects.exists()


def test_signing_detail_is_404_for_an_outsider(client, world):
    agreement = signed(world)
    client.force_login(world["outsider"])
    assert (
        client.get(
            reverse("agreements:signing_detail", args=[agreement.signing_event_id])
        ).status_code
        == 404
    )


def test_terminate_addendum_and_renew_through_the_pages(client, world):
    agreement = signed(world)
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:addendum", args=[agreement.pk]),
        {"title": "Adendum I", "subject": "Perubahan jangka waktu"},
    )
    addendum = Agreement.objects.get(title="Adendum I")
    assert response["Location"] == reverse("agreements:detail", args=[addendum.pk])
    assert addendum.parent == agreement
    assert (
        "Adendum I"
        in client.get(reverse("agreements:detail", args=[agreement.pk])).content.decode()
    )

    response = client.post(reverse("agreements:renew", args=[agreement.pk]))
    renewal = Agreement.objects.get(renews=agreement)
    assert response["Location"] == reverse("agreements:detail", args=[renewal.pk])

    response = client.post(
        reverse("agreements:terminate", args=[agreement.pk]),
        {"date": "2026-01-01", "reason": "Reorganisasi"},
    )
    assert response.status_code == 302
    agreement.refresh_from_db()
    assert agreement.status == Status.TERMINATED


def test_linked_drafts_are_listed_only_to_their_own_parties(client):
    rutan, bnnk, other = (factories.institution() for _ in range(3))
    signed = factories.agreement(rutan, bnnk, status=Agreement.Status.SIGNED)
    # Drafts of an addendum and a renewal between other parties: not the parent's business.
    factories.agreement(
        bnnk, other, title="Adendum Rahasia", kind=Agreement.Kind.ADDENDUM, parent=signed
    )
    factories.agreement(bnnk, other, title="Perpanjangan Rahasia", renews=signed)
    client.force_login(factories.user(institution=rutan))
    page = client.get(reverse("agreements:detail", args=[signed.pk])).content.decode()
    assert "Adendum Rahasia" not in page and "Perpanjangan Rahasia" not in page
    client.force_login(factories.user(institution=bnnk))
    page = client.get(reverse("agreements:detail", args=[signed.pk])).content.decode()
    assert "Adendum Rahasia" in page and "Perpanjangan Rahasia" in page
