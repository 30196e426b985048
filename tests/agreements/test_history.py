"""The history of agreements and meetings: every create, change and delete, by the services and
in the admin, with who, when and the values before and after; shown on the record's page to
those who may see it; and archiving, which takes the place of deleting a signed agreement."""

from __future__ import annotations

import datetime
import io

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from pypdf import PdfWriter

from agreements.models import Agreement, Article, Attendee, FollowUp, Meeting, Party
from agreements.services import documents, lifecycle
from agreements.services import meetings as meeting_services
from institutions import history, history_display
from institutions.models import History, Institution, Membership
from tests import factories

pytestmark = pytest.mark.django_db

Action = History.Action
Status = Agreement.Status
Role = Membership.Role
SIGNING_DAY = datetime.date(2025, 8, 4)


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
        "viewer": factories.user("viewer", institution=bnnk, roles=(Role.VIEWER,)),
        "outsider": factories.user("outsider", institution=factories.institution()),
        "agreement": agreement,
    }


def browser(user) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(user)
    return client


def entries(record) -> list[History]:
    """The record's history, oldest first."""
    return list(reversed(history.history_of(record)))


def latest(record) -> History:
    return history.history_of(record).first()


def make_ready(world) -> Agreement:
    agreement = world["agreement"]
    lifecycle.parties_replace(
        agreement=agreement,
        user=world["editor"],
        parties=[
            {
                "institution": world["rutan"],
                "number": "R-1",
                "signatory": factories.person("Kepala Rutan Uji"),
                "signatory_position": "Kepala Rutan",
            },
            {
                "institution": world["bnnk"],
                "number": "B-1",
                "signatory": factories.person("Kepala BNNK Uji"),
                "signatory_position": "Kepala BNNK",
            },
        ],
    )
    for status in (Status.DISCUSSION, Status.READY):
        lifecycle.agreement_move(agreement=agreement, user=world["editor"], to_status=status)
    return Agreement.objects.get(pk=agreement.pk)


def make_signed(world) -> Agreement:
    agreement = make_ready(world)
    lifecycle.signing_event_record(
        user=world["editor"],
        date=SIGNING_DAY,
        venue="Rutan Pekalongan",
        host=world["rutan"],
        agreements=[agreement],
    )
    return Agreement.objects.get(pk=agreement.pk)


# --- the services ---------------------------------------------------------------------------


def test_create_records_every_value_with_parties_and_articles(world):
    [created] = entries(world["agreement"])
    assert (created.action, created.user, created.object_repr) == (
        Action.CREATE,
        world["editor"],
        "PKS Uji",
    )
    assert created.changes["title"] == [None, "PKS Uji"]
    assert created.changes["version"] == [None, 1]
    assert created.changes["parties"] == [
        None,
        [
            "1. Rumah Tahanan Negara Kelas IIB Pemalang — … — …",
            "2. Badan Narkotika Nasional Kabupaten Batang — … — …",
        ],
    ]
    assert len(created.changes["articles"][1]) == 10
    assert created.changes["articles"][1][0].startswith("Pasal 1 — Maksud dan Tujuan: ")


def test_update_records_before_and_after_and_raises_the_version(world):
    agreement = lifecycle.agreement_update(
        agreement=world["agreement"], user=world["editor"], title="PKS Diubah", notice_days=60
    )
    change = latest(agreement)
    assert change.action == Action.CHANGE and change.user == world["editor"]
    assert change.changes == {
        "title": ["PKS Uji", "PKS Diubah"],
        "notice_days": [90, 60],
        "version": [1, 2],
    }
    assert Agreement.objects.get(pk=agreement.pk).version == 2


def test_a_save_that_changes_nothing_records_nothing(world):
    lifecycle.agreement_update(agreement=world["agreement"], user=world["editor"], title="PKS Uji")
    assert len(entries(world["agreement"])) == 1
    assert Agreement.objects.get(pk=world["agreement"].pk).version == 1


def test_parties_and_articles_are_recorded_as_lists_before_and_after(world):
    agreement = world["agreement"]
    lifecycle.parties_replace(
        agreement=agreement,
        user=world["editor"],
        parties=[
            {"institution": world["bnnk"], "number": "B/7"},
            {
                "institution": world["rutan"],
                "signatory": factories.person("Sari Dewi"),
                "signatory_position": "Kepala Rutan",
            },
        ],
    )
    parties = latest(agreement)
    assert parties.changes["parties"] == [
        [
            "1. Rumah Tahanan Negara Kelas IIB Pemalang — … — …",
            "2. Badan Narkotika Nasional Kabupaten Batang — … — …",
        ],
        [
            "1. Badan Narkotika Nasional Kabupaten Batang — B/7 — …",
            "2. Rumah Tahanan Negara Kelas IIB Pemalang — … — Sari Dewi, Kepala Rutan",
        ],
    ]
    assert parties.changes["version"] == [1, 2]

    lifecycle.articles_replace(
        agreement=agreement,
        user=world["editor"],
        articles=[{"heading": "Maksud", "body": "Isi baru"}],
    )
    articles = latest(agreement)
    assert len(articles.changes["articles"][0]) == 10
    assert articles.changes["articles"][1] == ["Pasal 1 — Maksud: Isi baru"]
    assert articles.changes["version"] == [2, 3]


def test_moves_signing_and_termination_are_recorded(world):
    agreement = make_signed(world)
    changes = [entry.changes for entry in entries(agreement) if entry.action == Action.CHANGE]
    statuses = [c["status"] for c in changes if "status" in c]
    assert statuses == [
        ["draft", "discussion"],
        ["discussion", "ready"],
        ["ready", "signed"],
    ]
    signing = changes[-1]
    assert signing["signed_on"] == [None, "2025-08-04"]
    assert signing["end_date"] == [None, "2027-08-03"]
    assert signing["signing_event_id"] == [None, agreement.signing_event_id]
    assert agreement.version == 5  # parties, two moves, signing
    # The lifecycle log stays, with its reasons.
    assert agreement.status_changes.count() == 4

    lifecycle.agreement_terminate(
        agreement=agreement,
        user=world["editor"],
        date=datetime.date(2026, 1, 1),
        reason="Reorganisasi",
    )
    terminated = latest(agreement)
    assert terminated.changes["status"] == ["signed", "terminated"]
    assert terminated.changes["termination_reason"] == ["", "Reorganisasi"]
    assert terminated.changes["version"] == [5, 6]


def test_addendum_and_renewal_are_recorded_as_created(world):
    agreement = make_signed(world)
    addendum = lifecycle.addendum_create(
        parent=agreement, user=world["editor"], title="Adendum I", subject="Jangka waktu"
    )
    [created] = entries(addendum)
    assert created.action == Action.CREATE
    assert created.changes["parent_id"] == [None, agreement.pk]
    assert created.changes["articles"] == [None, []]
    renewal = lifecycle.agreement_renew(agreement=agreement, user=world["editor"])
    [created] = entries(renewal)
    assert created.changes["renews_id"] == [None, agreement.pk]
    assert created.changes["parties"][1][0] == (
        "1. Rumah Tahanan Negara Kelas IIB Pemalang — … — …"
    )
    assert len(created.changes["articles"][1]) == 10


def test_scan_upload_is_recorded_on_the_agreement(world):
    agreement = make_signed(world)
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    data = io.BytesIO()
    writer.write(data)
    scan = documents.scan_upload(
        agreement=agreement,
        user=world["editor"],
        upload=SimpleUploadedFile("ditandatangani.pdf", data.getvalue()),
    )
    entry = latest(agreement)
    assert entry.changes == {"scans": [[], [f"ditandatangani.pdf — 1 p. — SHA-256 {scan.sha256}"]]}


def test_meeting_attendees_and_follow_ups_are_recorded_on_the_meeting(world):
    editor, rutan = world["editor"], world["rutan"]
    meeting = meeting_services.meeting_schedule(
        agreement=world["agreement"],
        user=editor,
        date=datetime.date(2025, 7, 29),
        start_time=datetime.time(9),
        end_time=None,
        venue="Kantor BNNK Batang",
        host=world["bnnk"],
    )
    assert latest(meeting).action == Action.CREATE
    meeting_services.meeting_update(meeting=meeting, user=editor, minutes="Notulen.")
    assert latest(meeting).changes == {"minutes": ["", "Notulen."], "version": [1, 2]}

    attendee = meeting_services.attendee_add(
        meeting=meeting, user=editor, institution=rutan, new_full_name="Sari", position="Kasubsi"
    )
    line = "Sari — Rumah Tahanan Negara Kelas IIB Pemalang — Kasubsi"
    assert latest(meeting).changes == {"attendees": [[], [line]]}
    meeting_services.attendee_remove(attendee=attendee, user=editor)
    assert latest(meeting).changes == {"attendees": [[line], []]}

    follow_up = meeting_services.follow_up_create(
        meeting=meeting,
        user=editor,
        description="Menyiapkan draf",
        owner=rutan,
        due_date=datetime.date(2025, 8, 4),
    )
    open_line = "Menyiapkan draf — Rumah Tahanan Negara Kelas IIB Pemalang — 2025-08-04"
    assert latest(meeting).changes == {"follow_ups": [[], [open_line]]}
    meeting_services.follow_up_mark_done(
        follow_up=follow_up, user=editor, done_on=datetime.date(2025, 8, 2)
    )
    done_line = f"{open_line} — ✓ 2025-08-02"
    assert latest(meeting).changes == {"follow_ups": [[open_line], [done_line]]}
    meeting_services.follow_up_reopen(follow_up=follow_up, user=editor)
    assert latest(meeting).changes == {"follow_ups": [[done_line], [open_line]]}
    assert all(entry.user == editor for entry in entries(meeting))
    # Only the meeting's own fields raise its version.
    assert Meeting.objects.get(pk=meeting.pk).version == 2


# --- archiving --------------------------------------------------------------------------------


def test_archive_and_restore_are_recorded(world):
    agreement = make_signed(world)
    archived = lifecycle.agreement_archive(agreement=agreement, user=world["editor"])
    assert archived.archived_at is not None
    entry = latest(agreement)
    assert entry.action == Action.ARCHIVE and entry.user == world["editor"]
    assert entry.changes["archived_at"][0] is None and entry.changes["archived_at"][1]

    with pytest.raises(ValidationError, match="already archived"):
        lifecycle.agreement_archive(agreement=agreement, user=world["editor"])

    lifecycle.agreement_restore(agreement=agreement, user=world["editor"])
    entry = latest(agreement)
    assert entry.action == Action.RESTORE
    assert entry.changes["archived_at"][1] is None
    assert Agreement.objects.get(pk=agreement.pk).archived_at is None
    with pytest.raises(ValidationError, match="not archived"):
        lifecycle.agreement_restore(agreement=agreement, user=world["editor"])


def test_only_signed_agreements_are_archived_and_only_by_editors(world):
    with pytest.raises(ValidationError, match="Only a signed agreement"):
        lifecycle.agreement_archive(agreement=world["agreement"], user=world["editor"])
    agreement = make_signed(world)
    with pytest.raises(PermissionDenied):
        lifecycle.agreement_archive(agreement=agreement, user=world["viewer"])
    assert Agreement.objects.get(pk=agreement.pk).archived_at is None


def test_archived_agreements_leave_the_staff_list_but_stay_public(world):
    agreement = make_signed(world)
    other = factories.agreement(world["rutan"], world["bnnk"], title="PKS Lain")
    editor = browser(world["editor"])
    detail = reverse("agreements:detail", args=[agreement.pk])
    page = editor.get(detail).content.decode()
    assert reverse("agreements:archive", args=[agreement.pk]) in page
    response = editor.post(reverse("agreements:archive", args=[agreement.pk]), follow=True)
    assert response.redirect_chain[-1][0] == detail
    page = response.content.decode()
    assert "has been archived" in page and "Archived on" in page
    assert reverse("agreements:restore", args=[agreement.pk]) in page

    def listed(params=None) -> set[str]:
        response = editor.get(reverse("agreements:list"), params or {})
        return {a.title for a in response.context["page"].object_list}

    assert listed() == {"PKS Lain"}
    assert listed({"q": "PKS"}) == {"PKS Lain"}
    assert listed({"archived": "on"}) == {"PKS Uji", "PKS Lain"}
    export = editor.get(reverse("agreements:export", args=["csv"]))
    exported = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "PKS Lain" in exported
    assert "PKS Uji" not in exported
    # Public information stays public.
    public = Client().get(reverse("public:registry")).content.decode()
    assert "PKS Uji" in public and other.title not in public
    assert Client().get(reverse("public:agreement", args=[agreement.pk])).status_code == 200

    editor.post(reverse("agreements:restore", args=[agreement.pk]))
    assert listed() == {"PKS Uji", "PKS Lain"}


def test_archive_of_a_draft_through_the_page_is_refused_with_the_reason(world):
    editor = browser(world["editor"])
    response = editor.post(reverse("agreements:archive", args=[world["agreement"].pk]), follow=True)
    assert "Only a signed agreement can be archived" in response.content.decode()
    assert Agreement.objects.get(pk=world["agreement"].pk).archived_at is None


def test_viewers_see_no_archive_button_and_may_not_archive(world):
    agreement = make_signed(world)
    viewer = browser(world["viewer"])
    page = viewer.get(reverse("agreements:detail", args=[agreement.pk])).content.decode()
    assert reverse("agreements:archive", args=[agreement.pk]) not in page
    assert viewer.post(reverse("agreements:archive", args=[agreement.pk])).status_code == 403
    assert Agreement.objects.get(pk=agreement.pk).archived_at is None


# --- the pages --------------------------------------------------------------------------------


def test_agreement_page_shows_the_history_to_those_who_see_it(world):
    agreement = make_ready(world)
    lifecycle.agreement_update(agreement=agreement, user=world["editor"], title="PKS Diubah")
    for user in (world["editor"], world["viewer"]):
        response = browser(user).get(reverse("agreements:detail", args=[agreement.pk]))
        page = response.content.decode()
        assert "History of changes" in page
        assert "<strong>Short title</strong>:\n        PKS Uji → PKS Diubah" in page
        assert "<strong>Status</strong>:\n        In discussion → Ready for signing" in page
        assert "2. Badan Narkotika Nasional Kabupaten Batang — B-1 — Kepala BNNK Uji" in page
        rows = response.context["history"]
        assert [row.action for row in rows] == [Action.CHANGE] * 4 + [Action.CREATE]
        assert rows[0].user == world["editor"]
    outsider = browser(world["outsider"])
    assert outsider.get(reverse("agreements:detail", args=[agreement.pk])).status_code == 404


def test_meeting_page_shows_the_meeting_history(world):
    meeting = meeting_services.meeting_schedule(
        agreement=world["agreement"],
        user=world["editor"],
        date=datetime.date(2025, 7, 29),
        start_time=datetime.time(9),
        end_time=None,
        venue="Kantor BNNK Batang",
        host=world["bnnk"],
    )
    meeting_services.meeting_update(meeting=meeting, user=world["editor"], venue="Aula Rutan")
    meeting_services.attendee_add(
        meeting=meeting, user=world["editor"], institution=world["rutan"], new_full_name="Sari"
    )
    response = browser(world["viewer"]).get(reverse("agreements:meeting_detail", args=[meeting.pk]))
    page = response.content.decode()
    assert "<strong>Venue</strong>:\n        Kantor BNNK Batang → Aula Rutan" in page
    assert "Sari — Rumah Tahanan Negara Kelas IIB Pemalang — …" in page
    # The host is named, not given by its id.
    assert "<strong>Host</strong>:\n        Badan Narkotika Nasional Kabupaten Batang" in page
    assert "<strong>Attendees</strong>" in page


def test_history_rows_name_fields_and_values_as_people_read_them(world):
    agreement = make_signed(world)
    rows = history_display.history_for(agreement)
    signing = rows[0]
    shown = {change.label: (change.before, change.after) for change in signing.changes}
    assert shown["Status"] == ("Ready for signing", "Signed")
    assert shown["Signed on"] == ("", "4 August 2025")
    assert shown["Signing event"][1].startswith("04-08-2025 — Rutan Pekalongan")
    assert "Version" not in shown  # it changes on every save
    parties = rows[3]
    [change] = parties.changes
    assert change.is_list and change.label == "Parties"
    assert change.removed == [
        "1. Rumah Tahanan Negara Kelas IIB Pemalang — … — …",
        "2. Badan Narkotika Nasional Kabupaten Batang — … — …",
    ]
    assert change.added[0] == (
        "1. Rumah Tahanan Negara Kelas IIB Pemalang — R-1 — Kepala Rutan Uji, Kepala Rutan"
    )


def test_agreement_page_query_count_does_not_grow_with_the_history(world):
    agreement = make_signed(world)
    editor = browser(world["editor"])
    url = reverse("agreements:detail", args=[agreement.pk])
    with CaptureQueriesContext(connection) as before:
        editor.get(url)
    for n in range(5):
        addendum = lifecycle.addendum_create(
            parent=agreement, user=world["editor"], title=f"Adendum {n}", subject="x"
        )
        lifecycle.agreement_update(agreement=addendum, user=world["editor"], subject="y")
    lifecycle.agreement_archive(agreement=agreement, user=world["editor"])
    lifecycle.agreement_restore(agreement=agreement, user=world["editor"])
    with CaptureQueriesContext(connection) as after:
        editor.get(url)
    assert len(after) == len(before)


# --- the admin --------------------------------------------------------------------------------


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:agreements_{model._meta.model_name}_{view}", args=args)


def _agreement_form(agreement: Agreement, **changes) -> dict:
    data = {
        "kind": agreement.kind,
        "title": agreement.title,
        "subject": agreement.subject,
        "status": agreement.status,
        "notice_days": str(agreement.notice_days),
        "considerations": agreement.considerations,
        "legal_basis": agreement.legal_basis,
        "articles-TOTAL_FORMS": "0",
        "articles-INITIAL_FORMS": "0",
    }
    parties = list(agreement.parties.order_by("order"))
    data |= {"parties-TOTAL_FORMS": str(len(parties)), "parties-INITIAL_FORMS": str(len(parties))}
    for index, party in enumerate(parties):
        data |= {
            f"parties-{index}-id": str(party.pk),
            f"parties-{index}-agreement": str(agreement.pk),
            f"parties-{index}-order": str(party.order),
            f"parties-{index}-institution": str(party.institution_id),
            f"parties-{index}-number": party.number,
        }
    return {**data, **changes}


def test_admin_create_change_and_delete_are_recorded(admin_client, world):
    rutan, bnnk = world["rutan"], world["bnnk"]
    data = {
        "kind": "pks",
        "title": "PKS dari Admin",
        "subject": "Uji",
        "status": "draft",
        "notice_days": "90",
        "parties-TOTAL_FORMS": "2",
        "parties-INITIAL_FORMS": "0",
        "parties-0-order": "1",
        "parties-0-institution": str(rutan.pk),
        "parties-1-order": "2",
        "parties-1-institution": str(bnnk.pk),
        "parties-1-number": "B/ADM",
        "articles-TOTAL_FORMS": "0",
        "articles-INITIAL_FORMS": "0",
    }
    assert admin_client.post(_admin_url(Agreement, "add"), data).status_code == 302
    agreement = Agreement.objects.get(title="PKS dari Admin")
    [created] = entries(agreement)
    assert created.action == Action.CREATE and created.user.username == "admin"
    assert created.changes["parties"][1] == [
        "1. Rumah Tahanan Negara Kelas IIB Pemalang — … — …",
        "2. Badan Narkotika Nasional Kabupaten Batang — B/ADM — …",
    ]

    # One save, inline included, is one entry; the version goes up.
    form = _agreement_form(agreement, title="PKS Diubah Admin", **{"parties-0-number": "R/ADM"})
    response = admin_client.post(_admin_url(Agreement, "change", agreement.pk), form)
    assert response.status_code == 302, response.context and response.context["errors"]
    change = latest(agreement)
    assert change.changes["title"] == ["PKS dari Admin", "PKS Diubah Admin"]
    assert change.changes["parties"][1][0] == (
        "1. Rumah Tahanan Negara Kelas IIB Pemalang — R/ADM — …"
    )
    assert change.changes["version"] == [1, 2]
    assert len(entries(agreement)) == 2

    meeting = meeting_services.meeting_schedule(
        agreement=agreement,
        user=world["editor"],
        date=datetime.date(2025, 7, 29),
        start_time=datetime.time(9),
        end_time=None,
        venue="Aula",
        host=rutan,
    )
    response = admin_client.post(_admin_url(Agreement, "delete", agreement.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Agreement.objects.filter(pk=agreement.pk).exists()
    deleted = latest(agreement)
    assert deleted.action == Action.DELETE and deleted.user.username == "admin"
    assert deleted.changes["title"] == ["PKS Diubah Admin", None]
    assert deleted.changes["parties"][0][1].endswith("B/ADM — …")
    # The meeting deleted with it says so too.
    assert latest(meeting).action == Action.DELETE


def test_signed_agreements_are_never_deleted_in_the_admin(admin_client, world):
    agreement = make_signed(world)
    assert admin_client.get(_admin_url(Agreement, "delete", agreement.pk)).status_code == 403
    response = admin_client.post(_admin_url(Agreement, "delete", agreement.pk), {"post": "yes"})
    assert response.status_code == 403
    model_admin = admin_client.get(_admin_url(Agreement, "changelist")).context["cl"].model_admin
    request = type("Request", (), {"user": world["editor"]})()
    with pytest.raises(PermissionDenied):
        model_admin.delete_queryset(request, Agreement.objects.filter(pk=agreement.pk))
    with pytest.raises(PermissionDenied):
        model_admin.delete_model(request, agreement)
    assert Agreement.objects.filter(pk=agreement.pk).exists()
    assert not History.objects.filter(action=Action.DELETE).exists()


def test_admin_archive_and_restore_actions(admin_client, world):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the messages are read in English
    signed = make_signed(world)
    draft = factories.agreement(world["rutan"], world["bnnk"], title="Draf")
    url = _admin_url(Agreement, "changelist")
    response = admin_client.post(
        url,
        {"action": "archive", "_selected_action": [signed.pk, draft.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "1 agreement archived." in page
    assert "Draf: Only a signed agreement can be archived" in page
    assert Agreement.objects.get(pk=signed.pk).archived_at is not None
    assert latest(signed).action == Action.ARCHIVE
    assert latest(signed).user.username == "admin"
    assert list(admin_client.get(url, {"archived": "yes"}).context["cl"].result_list) == [signed]

    admin_client.post(url, {"action": "restore", "_selected_action": [signed.pk]})
    assert Agreement.objects.get(pk=signed.pk).archived_at is None
    assert latest(signed).action == Action.RESTORE


def test_admin_party_and_article_pages_record_a_change_of_the_agreement(admin_client, world):
    agreement = world["agreement"]
    party = agreement.parties.get(order=2)
    response = admin_client.post(
        _admin_url(Party, "change", party.pk),
        {
            "agreement": agreement.pk,
            "order": "2",
            "institution": party.institution_id,
            "number": "B/99",
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    change = latest(agreement)
    assert change.changes["parties"][1][1] == (
        "2. Badan Narkotika Nasional Kabupaten Batang — B/99 — …"
    )
    assert change.changes["version"] == [1, 2]
    article = agreement.articles.get(number=10)
    response = admin_client.post(_admin_url(Article, "delete", article.pk), {"post": "yes"})
    assert response.status_code == 302
    change = latest(agreement)
    assert len(change.changes["articles"][0]) == 10 and len(change.changes["articles"][1]) == 9
    assert change.user.username == "admin"


def test_admin_meeting_pages_record_attendees_and_follow_ups_on_the_meeting(admin_client, world):
    meeting = meeting_services.meeting_schedule(
        agreement=world["agreement"],
        user=world["editor"],
        date=datetime.date(2025, 7, 29),
        start_time=datetime.time(9),
        end_time=None,
        venue="Aula",
        host=world["rutan"],
    )
    person = factories.person("Sari")
    data = {
        "agreement": world["agreement"].pk,
        "date": "2025-07-29",
        "start_time": "10:00",
        "venue": "Aula",
        "host": world["rutan"].pk,
        "attendees-TOTAL_FORMS": "1",
        "attendees-INITIAL_FORMS": "0",
        "attendees-0-person": person.pk,
        "attendees-0-institution": world["rutan"].pk,
        "follow_ups-TOTAL_FORMS": "0",
        "follow_ups-INITIAL_FORMS": "0",
    }
    response = admin_client.post(
        reverse("admin:agreements_meeting_change", args=[meeting.pk]), data
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    change = latest(meeting)
    assert change.changes["start_time"] == ["09:00:00", "10:00:00"]
    assert change.changes["attendees"] == [
        [],
        ["Sari — Rumah Tahanan Negara Kelas IIB Pemalang — …"],
    ]
    assert change.changes["version"] == [1, 2]

    attendee = Attendee.objects.get(meeting=meeting)
    follow_up = FollowUp.objects.create(
        meeting=meeting, description="Tindak", owner=world["rutan"], due_date=meeting.date
    )
    admin_client.post(
        reverse("admin:agreements_attendee_changelist"),
        {"action": "delete_selected", "_selected_action": [attendee.pk], "post": "yes"},
    )
    assert not Attendee.objects.exists()
    assert latest(meeting).changes["attendees"][1] == []
    admin_client.post(
        reverse("admin:agreements_followup_delete", args=[follow_up.pk]), {"post": "yes"}
    )
    assert latest(meeting).changes["follow_ups"] == [
        ["Tindak — Rumah Tahanan Negara Kelas IIB Pemalang — 2025-07-29"],
        [],
    ]
    assert Meeting.objects.get(pk=meeting.pk).version == 2
