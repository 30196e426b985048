"""The staff list of agreements: search, filters, pages, and the CSV and Excel exports."""

from __future__ import annotations

import csv
import datetime
import io

import openpyxl
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from agreements.models import Agreement
from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
LIST = reverse("agreements:list")
CSV = reverse("agreements:export", args=["csv"])
XLSX = reverse("agreements:export", args=["xlsx"])


def _days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


@pytest.fixture
def world():
    pemalang = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    batang = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    pekalongan = factories.institution(
        "Lembaga Pemasyarakatan Kelas IIA Pekalongan", kind="lapas", short_name="Lapas Pekalongan"
    )
    semarang = factories.institution(
        "Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas", short_name="Lapas Semarang"
    )
    active = factories.agreement(
        batang,
        pemalang,
        status=Agreement.Status.SIGNED,
        title="PKS Rehabilitasi Sosial Pemalang",
        subject="Rehabilitasi Sosial bagi Tahanan",
        signed_on=datetime.date(2019, 5, 2),
        effective_date=datetime.date(2019, 5, 2),
        end_date=_days(400),
        term_months=24,
    )
    expiring = factories.agreement(
        pekalongan,
        batang,
        status=Agreement.Status.SIGNED,
        title="PKS P4GN Pekalongan",
        subject="Pencegahan dan Pemberantasan Narkotika",
        signed_on=datetime.date(2024, 2, 1),
        effective_date=datetime.date(2024, 2, 1),
        end_date=_days(30),
        term_months=12,
    )
    expired = factories.agreement(
        batang,
        pekalongan,
        status=Agreement.Status.SIGNED,
        title="MoU Lama",
        kind=Agreement.Kind.MOU,
        signed_on=datetime.date(2022, 1, 10),
        end_date=_days(-10),
    )
    draft = factories.agreement(pemalang, batang, title="PKS Rancangan Pemalang")
    foreign = factories.agreement(semarang, factories.institution(), title="PKS Semarang Lain")
    return {
        "pemalang": pemalang,
        "batang": batang,
        "pekalongan": pekalongan,
        "semarang": semarang,
        "active": active,
        "expiring": expiring,
        "expired": expired,
        "draft": draft,
        "foreign": foreign,
    }


@pytest.fixture
def staff(client, world):
    user = factories.user(institution=world["batang"], roles=(Role.VIEWER,))
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # assertions below read English
    return user


def _titles(response) -> list[str]:
    return [agreement.title for agreement in response.context["page"].object_list]


def _csv(response) -> list[list[str]]:
    assert response.streaming  # the CSV streams as it is read
    content = b"".join(response.streaming_content)
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


# --- Access ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST, CSV, XLSX])
def test_anonymous_goes_to_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("url", [LIST, CSV, XLSX])
def test_account_without_institution_is_refused(client, world, url):
    client.force_login(factories.user())
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", [LIST, CSV, XLSX])
def test_wrong_method_is_405(client, staff, url):
    assert client.post(url).status_code == 405
    assert client.delete(url).status_code == 405


def test_unknown_export_format_is_404(client, staff):
    assert client.get(reverse("agreements:export", args=["pdf"])).status_code == 404
    assert client.get("/staff/agreements/export.csv.exe").status_code == 404


def test_outsider_sees_only_their_own_institutions_agreements(client, world):
    client.force_login(factories.user(institution=world["semarang"], roles=(Role.ADMIN,)))
    response = client.get(LIST)
    assert response.status_code == 200
    assert _titles(response) == ["PKS Semarang Lain"]
    page = response.content.decode()
    assert "PKS Rancangan Pemalang" not in page
    # Choosing another institution as party neither leaks nor fails: it is not a choice.
    response = client.get(LIST, {"party": world["batang"].pk})
    assert response.status_code == 200
    assert "party" in response.context["form"].errors
    assert _titles(response) == ["PKS Semarang Lain"]
    rows = _csv(client.get(CSV, {"q": "PKS"}))
    assert [row[1] for row in rows[1:]] == ["PKS Semarang Lain"]


def test_superuser_sees_every_agreement(client, world):
    client.force_login(factories.user(is_superuser=True))
    assert len(_titles(client.get(LIST))) == 5


# --- The list ----------------------------------------------------------------------------


def test_list_shows_own_agreements_with_parties_numbers_and_status(client, world, staff):
    response = client.get(LIST)
    assert response.status_code == 200
    # Drafts first, then by date of signing, newest first; other institutions' never.
    assert _titles(response) == [
        "PKS Rancangan Pemalang",
        "PKS P4GN Pekalongan",
        "MoU Lama",
        "PKS Rehabilitasi Sosial Pemalang",
    ]
    page = response.content.decode()
    assert "PKS Semarang Lain" not in page
    expiring = world["expiring"]
    first, second = expiring.parties.order_by("order")
    row = next(row for row in page.split("<tr>") if "PKS P4GN Pekalongan" in row)
    assert row.index("Lapas Pekalongan") < row.index("BNNK Batang")
    assert row.index(first.number) < row.index(second.number)
    assert 'class="status status-expiring"' in page
    assert 'class="status status-expired"' in page
    assert 'class="status status-draft"' in page
    detail = reverse("agreements:detail", args=[expiring.pk])
    assert f'href="{detail}"' in page
    assert f'href="{CSV}?"' in page


def test_search_by_title_subject_party_name_and_number(client, world, staff):
    assert _titles(client.get(LIST, {"q": "rehabilitasi sosial"})) == [
        "PKS Rehabilitasi Sosial Pemalang"
    ]
    assert _titles(client.get(LIST, {"q": "pemberantasan"})) == ["PKS P4GN Pekalongan"]
    assert _titles(client.get(LIST, {"q": "Lapas Pekalongan"})) == [
        "PKS P4GN Pekalongan",
        "MoU Lama",
    ]
    number = world["draft"].parties.get(order=2).number
    assert _titles(client.get(LIST, {"q": number})) == ["PKS Rancangan Pemalang"]
    # A search matching several parties of one agreement lists it once.
    assert _titles(client.get(LIST, {"q": "Kelas"})).count("PKS P4GN Pekalongan") == 1


def test_filter_by_party_type_and_current_status(client, world, staff):
    assert _titles(client.get(LIST, {"party": world["pekalongan"].pk})) == [
        "PKS P4GN Pekalongan",
        "MoU Lama",
    ]
    assert _titles(client.get(LIST, {"kind": "mou"})) == ["MoU Lama"]
    assert _titles(client.get(LIST, {"status": "expiring"})) == ["PKS P4GN Pekalongan"]
    assert _titles(client.get(LIST, {"status": "expired"})) == ["MoU Lama"]
    assert _titles(client.get(LIST, {"status": "active"})) == ["PKS Rehabilitasi Sosial Pemalang"]
    assert _titles(client.get(LIST, {"status": "draft"})) == ["PKS Rancangan Pemalang"]
    assert _titles(client.get(LIST, {"status": "active", "kind": "mou"})) == []
    page = client.get(LIST, {"kind": "mou", "q": "nothing like this"}).content.decode()
    assert "No agreements match." in page


def test_party_choices_are_the_institutions_of_the_users_agreements(client, world, staff):
    choices = list(client.get(LIST).context["form"].fields["party"].queryset)
    assert set(choices) == {world["pemalang"], world["batang"], world["pekalongan"]}


def test_year_is_the_year_of_signing_or_of_creation_in_wib(client, world, staff):
    assert _titles(client.get(LIST, {"year": "2019"})) == ["PKS Rehabilitasi Sosial Pemalang"]
    assert _titles(client.get(LIST, {"year": "2022"})) == ["MoU Lama"]
    # 31 December 2020, 20.00 UTC is already 1 January 2021 in WIB.
    Agreement.objects.filter(pk=world["draft"].pk).update(
        created_at=datetime.datetime(2020, 12, 31, 20, 0, tzinfo=datetime.UTC)
    )
    assert _titles(client.get(LIST, {"year": "2021"})) == ["PKS Rancangan Pemalang"]
    assert _titles(client.get(LIST, {"year": "2020"})) == []


def test_expiring_within_days(client, world, staff):
    factories.agreement(
        world["batang"],
        world["pemalang"],
        status=Agreement.Status.SIGNED,
        title="PKS Berakhir Hari Ini",
        end_date=_days(0),
    )
    factories.agreement(
        world["batang"],
        world["pemalang"],
        status=Agreement.Status.SIGNED,
        title="PKS Berakhir 80 Hari",
        end_date=_days(80),
    )
    # Ended, terminated and unsigned agreements are never "ending soon".
    factories.agreement(
        world["batang"],
        world["pemalang"],
        status=Agreement.Status.TERMINATED,
        title="PKS Dihentikan",
        end_date=_days(10),
    )
    factories.agreement(world["batang"], title="PKS Draf Berakhir", end_date=_days(10))
    # Default: 90 days; today's last day counts.
    assert set(_titles(client.get(LIST, {"expiring": "on"}))) == {
        "PKS Berakhir Hari Ini",
        "PKS Berakhir 80 Hari",
        "PKS P4GN Pekalongan",
    }
    assert set(_titles(client.get(LIST, {"expiring": "on", "days": "30"}))) == {
        "PKS Berakhir Hari Ini",
        "PKS P4GN Pekalongan",
    }
    assert _titles(client.get(LIST, {"expiring": "on", "days": "29"})) == ["PKS Berakhir Hari Ini"]
    # Without the tick, the number of days alone filters nothing.
    assert len(_titles(client.get(LIST, {"days": "29"}))) == 8


@pytest.mark.parametrize(
    "params",
    [
        {"status": "nonsense"},
        {"year": "abc"},
        {"year": "99999999999999999999"},
        {"expiring": "on", "days": "-5"},
        {"days": "abc"},
        {"party": "999999"},
        {"party": "x"},
        {"kind": "treaty"},
        {"page": "x"},
        {"page": "999"},
        {"q": "x" * 500},
    ],
)
def test_bad_filter_values_are_reported_and_ignored(client, world, staff, params):
    response = client.get(LIST, params)
    assert response.status_code == 200
    if "page" not in params:
        assert response.context["form"].errors
        assert 'class="error"' in response.content.decode()
    assert len(response.context["page"].object_list) == 4
    export = client.get(CSV, params)
    assert export.status_code == 200


def test_a_bad_filter_does_not_drop_the_good_ones(client, world, staff):
    response = client.get(LIST, {"kind": "mou", "year": "abc", "status": "nonsense"})
    assert set(response.context["form"].errors) == {"year", "status"}
    assert _titles(response) == ["MoU Lama"]


def test_pages_of_fifty_keep_the_filters(client, world, staff):
    for n in range(52):
        factories.agreement(world["batang"], title=f"PKS Massal {n:02d}")
    response = client.get(LIST, {"q": "Massal"})
    assert len(_titles(response)) == 50
    page = response.content.decode()
    assert 'href="?q=Massal&amp;page=2"' in page
    second = client.get(LIST, {"q": "Massal", "page": "2"})
    assert len(_titles(second)) == 2
    assert set(_titles(response)).isdisjoint(_titles(second))
    # The export links carry the filters but not the page.
    assert f'href="{CSV}?q=Massal"' in second.content.decode()


def test_list_query_count_is_pinned(client, world, staff, django_assert_num_queries):
    def add(count: int) -> None:
        for _ in range(count):
            factories.agreement(
                world["batang"], factories.institution(), factories.institution(), status="signed"
            )

    add(1)  # 5 agreements of the user's institutions
    # session, user, memberships, party choices, count, page, parties
    with django_assert_num_queries(10):
        client.get(LIST, {"q": "PKS", "status": "active"})
    add(45)  # 50
    with django_assert_num_queries(10):
        client.get(LIST, {"q": "PKS", "status": "active"})
    with django_assert_num_queries(10):
        response = client.get(LIST)
    assert len(_titles(response)) == 50


def test_export_query_count_is_pinned(client, world, staff, django_assert_num_queries):
    for _ in range(3):
        factories.agreement(world["batang"], factories.institution())
    # session, user, memberships, agreements, parties
    with django_assert_num_queries(8):
        b"".join(client.get(CSV).streaming_content)  # the rows are read as the CSV streams
    for _ in range(30):
        factories.agreement(world["batang"], factories.institution())
    with django_assert_num_queries(8):
        client.get(XLSX)


# --- Exports -----------------------------------------------------------------------------


HEADER = [
    "No",
    "Title",
    "Type",
    "Subject",
    "Parties",
    "Numbers",
    "Status",
    "Signed on",
    "Effective",
    "End date",
    "Term (months)",
]


def _expected_row(number: int, agreement: Agreement) -> list[str]:
    agreement = Agreement.objects.with_current_status().get(pk=agreement.pk)
    with translation.override("en"):
        kind, status = agreement.get_kind_display(), agreement.get_current_status_display()
    parties = list(agreement.parties.select_related("institution").order_by("order"))
    return [
        str(number),
        agreement.title,
        kind,
        agreement.subject,
        "; ".join(party.institution.display_name for party in parties),
        "; ".join(f"{party.institution.display_name}: {party.number}" for party in parties),
        status,
        agreement.signed_on.isoformat() if agreement.signed_on else "",
        agreement.effective_date.isoformat() if agreement.effective_date else "",
        agreement.end_date.isoformat() if agreement.end_date else "",
        str(agreement.term_months or ""),
    ]


def test_csv_export_matches_the_database(client, world, staff):
    with_language = client.get(CSV)
    assert with_language.status_code == 200
    assert with_language["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate()
    assert with_language["Content-Disposition"] == (
        f'attachment; filename="daftar-pks-{today:%Y-%m-%d}.csv"'
    )
    assert "no-store" in with_language["Cache-Control"]
    rows = _csv(with_language)
    assert rows[0] == HEADER
    order = ["draft", "expiring", "expired", "active"]
    assert rows[1:] == [
        _expected_row(number, world[key]) for number, key in enumerate(order, start=1)
    ]
    assert rows[2][5] == (
        f"Lapas Pekalongan: {world['expiring'].parties.get(order=1).number}; "
        f"BNNK Batang: {world['expiring'].parties.get(order=2).number}"
    )


def test_exports_apply_the_filters_and_hold_every_page(client, world, staff):
    for n in range(60):
        factories.agreement(world["batang"], title=f"PKS Massal {n:02d}")
    rows = _csv(client.get(CSV, {"q": "Massal", "page": "2"}))
    assert len(rows) == 61
    assert {row[1] for row in rows[1:]} == {f"PKS Massal {n:02d}" for n in range(60)}
    assert [row[0] for row in rows[1:]] == [str(n) for n in range(1, 61)]
    rows = _csv(client.get(CSV, {"status": "expiring"}))
    assert [row[1] for row in rows[1:]] == ["PKS P4GN Pekalongan"]
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(XLSX, {"kind": "mou"}).content)).active
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["MoU Lama"]


def test_xlsx_export_has_typed_cells_bold_frozen_header_and_widths(client, world, staff):
    response = client.get(XLSX)
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"].endswith(
        f'filename="daftar-pks-{timezone.localdate():%Y-%m-%d}.xlsx"'
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert [cell.value for cell in sheet[1]] == HEADER
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width == 40
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [row[1] for row in rows] == [
        "PKS Rancangan Pemalang",
        "PKS P4GN Pekalongan",
        "MoU Lama",
        "PKS Rehabilitasi Sosial Pemalang",
    ]
    active = world["active"]
    row = rows[3]
    assert row[0] == 4
    assert row[6] == "Active"
    # Real dates (openpyxl reads date cells back as datetimes), real numbers.
    assert row[7] == datetime.datetime(2019, 5, 2)
    assert row[9] == datetime.datetime.combine(active.end_date, datetime.time())
    assert row[10] == 24
    assert sheet.cell(row=5, column=8).is_date
    assert rows[0][7] is None  # a draft has no signing date


def test_formula_injection_is_neutralised(client, world, staff):
    evil = factories.agreement(
        world["batang"],
        title='=HYPERLINK("http://evil.example","klik")',
        subject="+62 812 cmd|' /C calc'!A0",
    )
    party = evil.parties.get()
    party.number = "-1+1"
    party.save()
    other = factories.agreement(world["batang"], title="@SUM(A1:A9)", subject="\tTab")
    rows = {row[1]: row for row in _csv(client.get(CSV))}
    row = rows['\'=HYPERLINK("http://evil.example","klik")']
    assert row[3] == "'+62 812 cmd|' /C calc'!A0"
    assert row[5] == "BNNK Batang: -1+1"  # starts with a name: nothing to neutralise
    assert rows["'@SUM(A1:A9)"][3] == "'\tTab"
    assert "PKS Rancangan Pemalang" in rows  # ordinary text untouched

    sheet = openpyxl.load_workbook(io.BytesIO(client.get(XLSX).content)).active
    cells = {sheet.cell(row=r, column=2).value: r for r in range(2, sheet.max_row + 1)}
    r = cells[evil.title]
    assert sheet.cell(row=r, column=2).data_type == "s"
    assert sheet.cell(row=r, column=4).data_type == "s"
    assert sheet.cell(row=cells[other.title], column=2).data_type == "s"
    # Nothing in the workbook is a formula.
    assert all(cell.data_type != "f" for sheet_row in sheet.iter_rows() for cell in sheet_row)
