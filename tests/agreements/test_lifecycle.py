"""Every allowed and refused move of an agreement, and what a signed agreement refuses."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from agreements.models import Agreement, Article, Party, StatusChange
from agreements.services import lifecycle
from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

Status = Agreement.Status
SIGNING_DAY = datetime.date(2025, 8, 4)


@pytest.fixture(autouse=True)
def _english():
    # The assertions read the services' messages in the source language.
    with translation.override("en"):
        yield


@pytest.fixture
def rutan():
    return factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")


@pytest.fixture
def bnnk():
    return factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")


@pytest.fixture
def editor(rutan):
    return factories.user("editor", institution=rutan)


def make_draft(editor, *institutions, term_months=24):
    return lifecycle.agreement_create(
        user=editor,
        title="PKS Rehabilitasi",
        subject="Rehabilitasi Narkotika bagi Tahanan dan Narapidana",
        institutions=list(institutions),
        term_months=term_months,
    )


def make_ready(editor, rutan, bnnk):
    agreement = make_draft(editor, rutan, bnnk)
    signer = factories.person("Kepala Rutan")
    lifecycle.parties_replace(
        agreement=agreement,
        user=editor,
        parties=[
            {
                "institution": rutan,
                "number": "W13.PAS-1/2025",
                "signatory": signer,
                "signatory_position": "Kepala Rutan",
            },
            {
                "institution": bnnk,
                "number": "PKS/1/2025",
                "signatory": factories.person("Kepala BNNK"),
                "signatory_position": "Kepala BNNK",
            },
        ],
    )
    lifecycle.agreement_move(agreement=agreement, user=editor, to_status=Status.DISCUSSION)
    lifecycle.agreement_move(agreement=agreement, user=editor, to_status=Status.READY)
    return Agreement.objects.get(pk=agreement.pk)


def sign(editor, *agreements, day=SIGNING_DAY):
    return lifecycle.signing_event_record(
        user=editor,
        date=day,
        venue="Rutan Pekalongan",
        host=agreements[0].parties.first().institution,
        agreements=list(agreements),
    )


def test_create_starts_a_draft_with_standard_articles_and_history(editor, rutan, bnnk):
    agreement = make_draft(editor, rutan, bnnk)
    assert agreement.status == Status.DRAFT
    assert [p.institution for p in agreement.parties.all()] == [rutan, bnnk]
    headings = list(agreement.articles.values_list("heading", flat=True))
    assert "Keadaan Kahar" in headings and "Penyelesaian Perselisihan" in headings
    assert agreement.considerations.startswith("bahwa")
    assert StatusChange.objects.get(agreement=agreement).changed_by == editor


def test_create_refuses_the_same_institution_twice_and_a_single_party(editor, rutan, bnnk):
    with pytest.raises(ValidationError, match="twice"):
        make_draft(editor, rutan, bnnk, rutan)
    with pytest.raises(ValidationError, match="two parties"):
        make_draft(editor, rutan)
    assert not Agreement.objects.exists()


def test_create_in_other_institutions_names_is_refused(rutan, bnnk):
    outsider = factories.user(institution=factories.institution())
    with pytest.raises(PermissionDenied):
        make_draft(outsider, rutan, bnnk)
    assert not Agreement.objects.exists()


def test_viewer_cannot_move(editor, rutan, bnnk):
    agreement = make_draft(editor, rutan, bnnk)
    viewer = factories.user(institution=rutan, roles=(Membership.Role.VIEWER,))
    with pytest.raises(PermissionDenied):
        lifecycle.agreement_move(agreement=agreement, user=viewer, to_status=Status.DISCUSSION)


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (Status.DRAFT, Status.DISCUSSION, True),
        (Status.DRAFT, Status.READY, False),
        (Status.DRAFT, Status.SIGNED, False),
        (Status.DISCUSSION, Status.READY, True),
        (Status.DISCUSSION, Status.DRAFT, False),
        (Status.DISCUSSION, Status.SIGNED, False),
        (Status.READY, Status.DISCUSSION, True),
        (Status.READY, Status.SIGNED, False),  # only through a signing event
        (Status.READY, Status.TERMINATED, False),
        (Status.SIGNED, Status.DRAFT, False),
        (Status.SIGNED, Status.DISCUSSION, False),
        (Status.SIGNED, Status.EXPIRED, False),  # the calendar's business
        (Status.TERMINATED, Status.SIGNED, False),
        (Status.TERMINATED, Status.DRAFT, False),
    ],
)
def test_manual_moves(editor, rutan, bnnk, start, target, allowed):
    agreement = make_draft(editor, rutan, bnnk)
    fields = {"status": start}
    if start in Agreement.PUBLIC_STATUSES:
        fields["signed_on"] = SIGNING_DAY
    if start == Status.TERMINATED:
        fields["terminated_on"] = SIGNING_DAY
    Agreement.objects.filter(pk=agreement.pk).update(**fields)
    before = StatusChange.objects.count()
    if allowed:
        moved = lifecycle.agreement_move(
            agreement=agreement, user=editor, to_status=target, reason="Perlu dibahas lagi"
        )
        assert moved.status == target
        change = StatusChange.objects.latest("pk")
        assert (change.from_status, change.to_status, change.changed_by) == (start, target, editor)
    else:
        with pytest.raises(ValidationError):
            lifecycle.agreement_move(agreement=agreement, user=editor, to_status=target)
        assert Agreement.objects.get(pk=agreement.pk).status == start
        assert StatusChange.objects.count() == before


def test_back_to_discussion_needs_a_reason(editor, rutan, bnnk):
    agreement = make_ready(editor, rutan, bnnk)
    with pytest.raises(ValidationError, match="why"):
        lifecycle.agreement_move(agreement=agreement, user=editor, to_status=Status.DISCUSSION)


def test_ready_needs_articles(editor, rutan, bnnk):
    agreement = make_draft(editor, rutan, bnnk)
    lifecycle.articles_replace(agreement=agreement, user=editor, articles=[])
    lifecycle.agreement_move(agreement=agreement, user=editor, to_status=Status.DISCUSSION)
    with pytest.raises(ValidationError, match="no articles"):
        lifecycle.agreement_move(agreement=agreement, user=editor, to_status=Status.READY)


def test_signing_event_signs_several_agreements_with_date_place_and_term(editor, rutan, bnnk):
    first = make_ready(editor, rutan, bnnk)
    lapas = factories.institution("Lembaga Pemasyarakatan Kelas IIA Pekalongan", kind="lapas")
    second = make_draft(editor, rutan, lapas)
    lifecycle.parties_replace(
        agreement=second,
        user=editor,
        parties=[
            {
                "institution": rutan,
                "number": "W13-2",
                "signatory": factories.person(),
                "signatory_position": "Kepala",
            },
            {
                "institution": lapas,
                "number": "W13-3",
                "signatory": factories.person(),
                "signatory_position": "Kepala",
            },
        ],
    )
    lifecycle.agreement_move(agreement=second, user=editor, to_status=Status.DISCUSSION)
    lifecycle.agreement_move(agreement=second, user=editor, to_status=Status.READY)
    event = sign(editor, first, second)
    for agreement in (first, second):
        agreement.refresh_from_db()
        assert agreement.status == Status.SIGNED
        assert agreement.signed_on == SIGNING_DAY
        assert agreement.signing_event == event
        assert agreement.signing_place == "Rutan Pekalongan"
        assert agreement.effective_date == SIGNING_DAY
        assert agreement.end_date == datetime.date(2027, 8, 3)
    assert set(event.agreements.all()) == {first, second}


def test_signing_is_all_or_nothing(editor, rutan, bnnk):
    ready = make_ready(editor, rutan, bnnk)
    unnumbered = make_draft(editor, rutan, bnnk)
    lifecycle.agreement_move(agreement=unnumbered, user=editor, to_status=Status.DISCUSSION)
    lifecycle.agreement_move(agreement=unnumbered, user=editor, to_status=Status.READY)
    with pytest.raises(ValidationError) as refused:
        sign(editor, ready, unnumbered)
    assert any("no agreement number" in message for message in refused.value.messages)
    ready.refresh_from_db()
    assert ready.status == Status.READY
    assert not ready.signing_event_id


def test_signing_a_draft_or_in_the_future_is_refused(editor, rutan, bnnk):
    draft = make_draft(editor, rutan, bnnk)
    with pytest.raises(ValidationError, match="not ready"):
        sign(editor, draft)
    ready = make_ready(editor, rutan, bnnk)
    with pytest.raises(ValidationError, match="before it happens"):
        sign(editor, ready, day=datetime.date.today() + datetime.timedelta(days=2))


def test_signed_agreement_refuses_changes_to_text_parties_and_numbers(editor, rutan, bnnk):
    agreement = make_ready(editor, rutan, bnnk)
    sign(editor, agreement)
    with pytest.raises(ValidationError, match="addendum"):
        lifecycle.agreement_update(agreement=agreement, user=editor, title="Diubah")
    with pytest.raises(ValidationError, match="addendum"):
        lifecycle.parties_replace(
            agreement=agreement,
            user=editor,
            parties=[{"institution": rutan, "number": "X"}, {"institution": bnnk, "number": "Y"}],
        )
    with pytest.raises(ValidationError, match="addendum"):
        lifecycle.articles_replace(
            agreement=agreement, user=editor, articles=[{"heading": "Baru", "body": "Isi"}]
        )
    agreement.refresh_from_db()
    assert agreement.title == "PKS Rehabilitasi"
    assert list(agreement.parties.values_list("number", flat=True)) == [
        "W13.PAS-1/2025",
        "PKS/1/2025",
    ]
    assert agreement.articles.count() == 10


def test_party_number_already_used_by_that_institution_is_refused(editor, rutan, bnnk):
    first = make_ready(editor, rutan, bnnk)
    second = make_draft(editor, rutan, bnnk)
    with pytest.raises(ValidationError, match="already gave the number"):
        lifecycle.parties_replace(
            agreement=second,
            user=editor,
            parties=[{"institution": rutan, "number": "W13.PAS-1/2025"}, {"institution": bnnk}],
        )
    assert first.parties.count() == 2


def test_editor_cannot_remove_their_own_institution(editor, rutan, bnnk):
    agreement = make_draft(editor, rutan, bnnk)
    lapas = factories.institution(kind="lapas")
    with pytest.raises(PermissionDenied):
        lifecycle.parties_replace(
            agreement=agreement,
            user=editor,
            parties=[{"institution": bnnk}, {"institution": lapas}],
        )
    assert [p.institution for p in agreement.parties.all()] == [rutan, bnnk]


def test_terminate(editor, rutan, bnnk):
    agreement = make_ready(editor, rutan, bnnk)
    sign(editor, agreement)
    with pytest.raises(ValidationError, match="before the signing"):
        lifecycle.agreement_terminate(
            agreement=agreement, user=editor, date=datetime.date(2025, 1, 1), reason="x"
        )
    with pytest.raises(ValidationError, match="why"):
        lifecycle.agreement_terminate(
            agreement=agreement, user=editor, date=datetime.date(2026, 1, 1), reason=" "
        )
    lifecycle.agreement_terminate(
        agreement=agreement, user=editor, date=datetime.date(2026, 1, 1), reason="Reorganisasi"
    )
    agreement.refresh_from_db()
    assert agreement.status == Status.TERMINATED
    assert agreement.terminated_on == datetime.date(2026, 1, 1)
    assert agreement.current_status(datetime.date(2026, 6, 1)) == Status.TERMINATED
    with pytest.raises(ValidationError, match="Only a signed"):
        lifecycle.agreement_terminate(
            agreement=agreement, user=editor, date=datetime.date(2026, 2, 1), reason="lagi"
        )


def test_terminating_a_draft_is_refused(editor, rutan, bnnk):
    with pytest.raises(ValidationError, match="Only a signed"):
        lifecycle.agreement_terminate(
            agreement=make_draft(editor, rutan, bnnk),
            user=editor,
            date=datetime.date(2026, 1, 1),
            reason="x",
        )


def test_addendum_is_linked_and_listed(editor, rutan, bnnk):
    original = make_ready(editor, rutan, bnnk)
    sign(editor, original)
    addendum = lifecycle.addendum_create(
        parent=original, user=editor, title="Adendum I", subject="Perubahan Pasal 6"
    )
    assert addendum.kind == Agreement.Kind.ADDENDUM
    assert addendum.parent == original
    assert addendum.status == Status.DRAFT
    assert list(original.addenda.all()) == [addendum]
    assert [p.institution for p in addendum.parties.all()] == [rutan, bnnk]
    assert set(addendum.parties.values_list("number", flat=True)) == {""}


def test_addendum_to_a_draft_is_refused(editor, rutan, bnnk):
    with pytest.raises(ValidationError):
        lifecycle.addendum_create(
            parent=make_draft(editor, rutan, bnnk), user=editor, title="A", subject="B"
        )


def test_renewal_copies_and_links_once(editor, rutan, bnnk):
    original = make_ready(editor, rutan, bnnk)
    sign(editor, original)
    original.refresh_from_db()
    renewal = lifecycle.agreement_renew(agreement=original, user=editor)
    assert renewal.renews == original
    assert renewal.status == Status.DRAFT
    assert renewal.effective_date == datetime.date(2027, 8, 4)
    assert renewal.articles.count() == original.articles.count()
    assert [p.institution for p in renewal.parties.all()] == [rutan, bnnk]
    with pytest.raises(ValidationError, match="already has a renewal"):
        lifecycle.agreement_renew(agreement=original, user=editor)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (datetime.date(2025, 8, 3), Status.SIGNED),  # signed, not yet in force
        (datetime.date(2025, 8, 4), Status.ACTIVE),
        (datetime.date(2027, 5, 4), Status.ACTIVE),  # the day before the notice period
        (datetime.date(2027, 5, 5), Status.EXPIRING),  # 90 days before 3 Aug 2027
        (datetime.date(2027, 8, 3), Status.EXPIRING),  # the last day
        (datetime.date(2027, 8, 4), Status.EXPIRED),
    ],
)
def test_calendar_driven_status_on_fixed_dates(editor, rutan, bnnk, today, expected):
    agreement = make_ready(editor, rutan, bnnk)
    sign(editor, agreement)
    agreement.refresh_from_db()
    assert (agreement.effective_date, agreement.end_date) == (
        datetime.date(2025, 8, 4),
        datetime.date(2027, 8, 3),
    )
    assert agreement.current_status(today) == expected
    annotated = Agreement.objects.with_current_status(today).get(pk=agreement.pk)
    assert annotated.current_status == expected


def test_end_of_term():
    assert lifecycle.end_of_term(datetime.date(2025, 8, 4), 24) == datetime.date(2027, 8, 3)
    assert lifecycle.end_of_term(datetime.date(2024, 2, 29), 12) == datetime.date(2025, 2, 27)
    assert lifecycle.end_of_term(datetime.date(2025, 1, 31), 1) == datetime.date(2025, 2, 27)


def test_parties_and_articles_keep_order(editor, rutan, bnnk):
    agreement = make_draft(editor, rutan, bnnk)
    lapas = factories.institution(kind="lapas")
    lifecycle.parties_replace(
        agreement=agreement,
        user=editor,
        parties=[{"institution": bnnk}, {"institution": lapas}, {"institution": rutan}],
    )
    assert [(p.order, p.institution) for p in Party.objects.filter(agreement=agreement)] == [
        (1, bnnk),
        (2, lapas),
        (3, rutan),
    ]
    lifecycle.articles_replace(
        agreement=agreement,
        user=editor,
        articles=[{"heading": "Kedua", "body": "b"}, {"heading": "Pertama", "body": "a"}],
    )
    assert list(Article.objects.filter(agreement=agreement).values_list("number", "heading")) == [
        (1, "Kedua"),
        (2, "Pertama"),
    ]
