"""Every read of a participant's personal data is logged, by whatever path: staff pages, the
admin's lists, records, histories, searches and autocomplete, exports and the access log itself
(who read the log of whom). A list is one line listing its records; a search keeps no words;
a reader may say why; an institution's administrators review the reads of one person and
produce a data subject's "who has seen my record"."""

from __future__ import annotations

import csv
import io

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from institutions.models import Membership
from rehabilitation.models import (
    AccessLog,
    AccessLogRecord,
    Assessment,
    Attendance,
    Enrolment,
    InstrumentScore,
    Participant,
    ProgressNote,
    Screening,
)
from rehabilitation.services.audit import record_bulk_access
from tests import factories
from tests.test_permission_matrix import RULES

pytestmark = pytest.mark.django_db

Role = Membership.Role


def _client(user, *, english: bool = True) -> Client:
    client = Client()
    client.force_login(user)
    if english:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _new_lines(before: int) -> list[AccessLog]:
    return list(AccessLog.objects.filter(pk__gt=before).order_by("pk"))


def _last_pk() -> int:
    last = AccessLog.objects.order_by("-pk").first()
    return last.pk if last else 0


def _named(lines: list[AccessLog]) -> set[int]:
    """The participants the lines name, alone or listed."""
    return {line.participant_id for line in lines if line.participant_id} | set(
        AccessLogRecord.objects.filter(entry__in=lines).values_list("participant_id", flat=True)
    )


# --- Every staff page that shows a participant logs it -------------------------------------


def _rehabilitation_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace or ""
                walk(pattern.url_patterns, f"{namespace}{inner}:" if inner else namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}{pattern.name}")

    walk(get_resolver().url_patterns)
    return {name for name in names if name.startswith("rehabilitation:")}


def _gets() -> list:
    return [
        pytest.param(name, index, id=f"{name}-{index}")
        for name, cases in RULES.items()
        if name.startswith("rehabilitation:")
        for index, case in enumerate(cases)
        if case.method == "GET"
    ]


def test_the_walk_covers_every_rehabilitation_url():
    assert _rehabilitation_names() <= set(RULES), "add a rule to tests/test_permission_matrix.py"


@pytest.mark.parametrize("actor", ["admin", "programme", "superuser"])
@pytest.mark.parametrize(("name", "index"), _gets())
def test_every_page_that_shows_a_participant_logs_it(shared_world, world_media, name, index, actor):
    case = RULES[name][index]
    url = reverse(name, args=case.args(shared_world))
    if case.query:
        url = f"{url}?{case.query}"
    before = _last_pk()
    response = _client(getattr(shared_world.users, actor)).get(url)
    if response.status_code != 200:
        return
    body = b"".join(response.streaming_content) if response.streaming else response.content
    content = body.decode(errors="replace")
    shown = {
        pk
        for pk, full_name, number in Participant.objects.values_list(
            "pk", "full_name", "register_number"
        )
        if full_name in content or number in content
    }
    if shown:
        lines = _new_lines(before)
        assert lines, f"{url} shows participants {sorted(shown)} and wrote no access-log line"
        assert shown <= _named(lines), f"{url}: shown {shown}, logged {_named(lines)}"
        assert all(line.user == getattr(shared_world.users, actor) for line in lines)


# --- The admin -----------------------------------------------------------------------------


def _admin(model, view: str, *args) -> str:
    return reverse(f"admin:rehabilitation_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def root(shared_world):
    return _client(shared_world.users.superuser)


@pytest.fixture
def attended(shared_world):
    """A mark on the world's session, so its admin page names a participant."""
    return Attendance.objects.create(
        session=shared_world.session, enrolment=shared_world.enrolment, status="present"
    )


#: The admin's lists of personal data and how each row leads to its participant.
ADMIN_LISTS = {
    Participant: lambda row: row.pk,
    Enrolment: lambda row: row.participant_id,
    Screening: lambda row: row.participant_id,
    Assessment: lambda row: row.enrolment.participant_id,
    ProgressNote: lambda row: row.enrolment.participant_id,
    InstrumentScore: lambda row: row.enrolment.participant_id,
}


@pytest.mark.parametrize("model", list(ADMIN_LISTS), ids=lambda m: m._meta.model_name)
def test_an_admin_list_writes_one_line_with_the_page_ids(shared_world, world_media, root, model):
    before = _last_pk()
    response = root.get(_admin(model, "changelist"))
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows
    lines = _new_lines(before)
    expected = {ADMIN_LISTS[model](row) for row in rows}
    # One line per institution holding the participants of the page (not one per row),
    # listing them all.
    held_at = set(
        Participant.objects.filter(pk__in=expected).values_list("institution_id", flat=True)
    )
    assert sorted(line.institution_id for line in lines) == sorted(held_at)
    for line in lines:
        # A page of one participant names them on the line itself.
        assert line.participant_id is None or expected == {line.participant_id}
        assert line.action == AccessLog.Action.VIEW
        assert line.detail == f"admin {model._meta.model_name} list"
        assert line.path == _admin(model, "changelist")
    assert _named(lines) == expected
    assert sum(line.record_count for line in lines) == len(expected)


@pytest.mark.parametrize(
    ("model", "record", "participant"),
    [
        (Participant, lambda w: w.participant, lambda w: {w.participant.pk}),
        (Enrolment, lambda w: w.enrolment, lambda w: {w.participant.pk}),
        (
            Screening,
            lambda w: w.enrolment.screenings.first(),
            lambda w: {w.participant.pk},
        ),
        (
            Assessment,
            lambda w: w.enrolment.assessments.first(),
            lambda w: {w.participant.pk},
        ),
        (ProgressNote, lambda w: w.note, lambda w: {w.participant.pk}),
        (InstrumentScore, lambda w: w.score, lambda w: {w.participant.pk}),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_an_admin_record_page_logs_the_record(
    shared_world, world_media, root, model, record, participant, view
):
    obj = record(shared_world)
    before = _last_pk()
    response = root.get(_admin(model, view, obj.pk))
    lines = _new_lines(before)
    if response.status_code == 302:
        # A participant with enrolments is never deleted: sent back, shown nothing.
        assert (model, view) == (Participant, "delete")
        assert lines == []
        return
    assert response.status_code == 200
    assert len(lines) == 1
    assert _named(lines) == participant(shared_world)
    assert lines[0].detail == f"admin {model._meta.model_name} {view.replace('change', 'record')}"


def test_the_admin_session_and_programme_pages_log_their_inlines(
    shared_world, world_media, root, attended
):
    from rehabilitation.models import Programme, Session

    before = _last_pk()
    assert root.get(_admin(Session, "change", shared_world.session.pk)).status_code == 200
    assert _named(_new_lines(before)) == {shared_world.participant.pk}
    before = _last_pk()
    assert root.get(_admin(Programme, "change", shared_world.programme.pk)).status_code == 200
    enrolled = set(
        Enrolment.objects.filter(programme=shared_world.programme).values_list(
            "participant_id", flat=True
        )
    )
    assert _named(_new_lines(before)) == enrolled
    # Their lists show no personal data and write nothing.
    before = _last_pk()
    root.get(_admin(Session, "changelist"))
    root.get(_admin(Programme, "changelist"))
    assert _new_lines(before) == []


def test_an_admin_post_is_logged_as_a_change(shared_world, world_media, root):
    before = _last_pk()
    root.post(_admin(Participant, "change", shared_world.participant.pk), {})
    [line] = _new_lines(before)
    assert line.action == AccessLog.Action.CHANGE


def test_an_admin_search_keeps_no_words_in_the_log(shared_world, world_media, root):
    name = shared_world.participant.full_name
    before = _last_pk()
    response = root.get(_admin(Participant, "changelist"), {"q": name})
    assert name in response.content.decode()
    lines = _new_lines(before)
    assert _named(lines) == {shared_world.participant.pk}
    for line in lines:
        assert line.detail.startswith("admin participant list, search #")
        stored = " ".join(str(value) for value in vars(line).values()).casefold()
        assert name.casefold() not in stored
        assert name.split()[-1].casefold() not in stored
    # The same search twice is recognisable as the same search, without its words.
    root.get(_admin(Participant, "changelist"), {"q": name.upper()})
    assert AccessLog.objects.order_by("-pk").first().detail == lines[0].detail


def test_the_admin_autocomplete_is_logged_without_the_words(shared_world, world_media, root):
    number = shared_world.participant.register_number
    before = _last_pk()
    response = root.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "rehabilitation",
            "model_name": "enrolment",
            "field_name": "participant",
            "term": number,
        },
    )
    assert response.status_code == 200
    assert number in response.content.decode()
    lines = _new_lines(before)
    assert _named(lines) == {shared_world.participant.pk}
    assert all(number not in line.detail for line in lines)


def test_reading_the_access_log_in_the_admin_is_logged(shared_world, world_media, root):
    reader = shared_world.users.programme
    record_bulk_access(
        user=reader,
        participants=[shared_world.participant, shared_world.unenrolled],
        action=AccessLog.Action.VIEW,
        detail="participant list",
    )
    before = _last_pk()
    assert root.get(_admin(AccessLog, "changelist")).status_code == 200
    lines = _new_lines(before)
    assert [line.detail for line in lines] == ["admin accesslog list"]
    assert {shared_world.participant.pk, shared_world.unenrolled.pk} <= _named(lines)


def test_the_admin_list_query_count_is_constant(shared_world, world_media, root):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = root.get(_admin(Participant, "changelist"))
        assert response.status_code == 200
        return len(queries), len(response.context["cl"].result_list)

    before = _last_pk()
    small, shown = count()
    logged = sum(line.record_count for line in _new_lines(before))
    for _ in range(40):
        factories.participant(shared_world.own)
    before = _last_pk()
    large, more = count()
    assert more == shown + 40
    # Writing the log costs the same queries (the page's ids, the lines, their records),
    # whatever the page's size.
    assert large == small
    assert logged == shown
    assert sum(line.record_count for line in _new_lines(before)) == more


# --- Staff pages: the reason for access ----------------------------------------------------


def test_the_reason_given_is_recorded_and_remembered(shared_world, world_media):
    client = _client(shared_world.users.programme)
    participant_url = reverse("rehabilitation:participant", args=[shared_world.participant.pk])
    before = _last_pk()
    response = client.get(participant_url, {"reason": "care"})
    assert 'value="care" selected' in response.content.decode()
    client.get(reverse("rehabilitation:enrolment", args=[shared_world.enrolment.pk]))
    client.get(reverse("rehabilitation:participants"))
    assert {line.reason for line in _new_lines(before)} == {"care"}
    # Another reason replaces it; "none" forgets it; anything else is ignored.
    before = _last_pk()
    client.get(participant_url, {"reason": "audit"})
    client.get(participant_url, {"reason": "gossip"})
    assert [line.reason for line in _new_lines(before)] == ["audit", "audit"]
    before = _last_pk()
    client.get(participant_url, {"reason": "none"})
    client.get(participant_url)
    assert [line.reason for line in _new_lines(before)] == ["", ""]
    # Without a reason the page offers the choice, and reading still works.
    assert client.get(participant_url).status_code == 200


def test_the_participant_page_logs_its_address(shared_world, world_media):
    client = _client(shared_world.users.programme)
    url = reverse("rehabilitation:participant", args=[shared_world.participant.pk])
    before = _last_pk()
    client.get(url, {"reason": "report"})
    [line] = _new_lines(before)
    assert (line.path, line.reason, line.participant_id) == (
        url,
        "report",
        shared_world.participant.pk,
    )


# --- The access log page: per person, per user, and its own reading -------------------------


def _log_url(world) -> str:
    return reverse("rehabilitation:access_log", args=[world.own.pk])


def test_the_log_is_reviewed_per_person_with_lists_included(shared_world, world_media):
    w = shared_world
    record_bulk_access(
        user=w.users.programme,
        participants=[w.participant, w.unenrolled],
        action=AccessLog.Action.VIEW,
        detail="participant list",
    )
    record_bulk_access(
        user=w.users.programme,
        participants=[w.unenrolled],
        action=AccessLog.Action.VIEW,
        detail="unenrolled only",
    )
    client = _client(w.users.admin)
    response = client.get(_log_url(w), {"participant": w.participant.register_number})
    assert response.status_code == 200
    details = {entry.detail for entry in response.context["page"].object_list}
    assert "participant list" in details and "unenrolled only" not in details
    assert response.context["participant"] == w.participant
    page = response.content.decode()
    assert reverse("rehabilitation:participant_access_log", args=[w.participant.pk]) in page
    # Counts per user, for the filtered lines.
    readers = {reader["user__username"]: reader["reads"] for reader in response.context["readers"]}
    assert readers["matrix.programme"] >= 1
    # A number of another institution is a form error, not a look-up.
    response = client.get(_log_url(w), {"participant": w.other_participant.register_number})
    assert 'class="field-error"' in response.content.decode()


def test_reading_the_log_is_logged_with_whom_it_named(shared_world, world_media):
    w = shared_world
    client = _client(w.users.admin)
    client.get(reverse("rehabilitation:participant", args=[w.participant.pk]))
    before = _last_pk()
    response = client.get(_log_url(w), {"user": w.users.admin.pk})
    assert w.participant.register_number in response.content.decode()
    [line] = _new_lines(before)
    assert (line.user, line.detail, line.action) == (w.users.admin, "access log", "view")
    assert w.participant.pk in _named([line])


# --- A data subject's "who has seen my record" ---------------------------------------------


def _subject_url(world, **query) -> str:
    url = reverse("rehabilitation:participant_access_log", args=[world.participant.pk])
    return f"{url}?{'&'.join(f'{k}={v}' for k, v in query.items())}" if query else url


@pytest.fixture
def seen(shared_world):
    """The participant read on their page (with a reason), and listed in an export."""
    w = shared_world
    _client(w.users.programme).get(
        reverse("rehabilitation:participant", args=[w.participant.pk]), {"reason": "care"}
    )
    record_bulk_access(
        user=w.users.other_admin,
        participants=[w.participant],
        action=AccessLog.Action.EXPORT,
        detail="pseudonymised csv",
    )
    return w


def test_who_has_seen_a_record_page(seen, world_media):
    w = seen
    before = _last_pk()
    response = _client(w.users.admin).get(_subject_url(w))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    page = response.content.decode()
    assert "matrix.programme" in page or w.users.programme.get_full_name() in page
    assert "Programme staff" in page or "programme" in page.casefold()
    assert w.own.display_name in page
    assert "Care of the participant" in page
    assert "pseudonymised csv" in page and "Exported" in page
    # The page itself is logged as a read of the participant.
    [line] = _new_lines(before)
    assert (line.participant_id, line.action, line.detail) == (
        w.participant.pk,
        "view",
        "who has seen this record",
    )


def test_who_has_seen_a_record_csv_is_logged_as_an_export(seen, world_media):
    w = seen
    before = _last_pk()
    response = _client(w.users.admin).get(_subject_url(w, format="csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["When", "User", "Institution and role", "Action", "What", "Why"]
    assert any(row[5] == "Care of the participant" for row in rows[1:])
    assert any(row[4] == "pseudonymised csv" and row[3] == "Exported" for row in rows[1:])
    assert any(w.other.display_name in row[2] for row in rows[1:])
    [line] = _new_lines(before)
    assert (line.participant_id, line.action) == (w.participant.pk, "export")


@pytest.mark.parametrize("actor", ["programme", "viewer", "other_admin", "other_programme"])
def test_who_has_seen_a_record_is_hidden_from_everyone_else(seen, world_media, actor):
    w = seen
    before = _last_pk()
    client = _client(getattr(w.users, actor))
    assert client.get(_subject_url(w)).status_code == 404
    assert client.get(_subject_url(w, format="csv")).status_code == 404
    assert _new_lines(before) == []


def test_who_has_seen_a_record_refuses_unknown_formats_and_records(seen, world_media):
    client = _client(seen.users.admin)
    assert client.get(_subject_url(seen, format="xlsx")).status_code == 404
    unknown = reverse("rehabilitation:participant_access_log", args=[999999])
    assert client.get(unknown).status_code == 404
    assert client.post(_subject_url(seen)).status_code == 405


def test_lines_written_before_lists_were_logged_this_way_stay_readable(shared_world, world_media):
    w = shared_world
    # A line as the log wrote it before: one participant, no page, reason or count.
    old = AccessLog.objects.create(
        user=w.users.programme,
        participant=w.participant,
        institution=w.own,
        action=AccessLog.Action.EXPORT,
        detail="old pseudonymised csv",
    )
    client = _client(w.users.admin)
    page = client.get(_log_url(w)).content.decode()
    assert "old pseudonymised csv" in page
    assert old in client.get(_log_url(w)).context["page"].object_list
    assert "old pseudonymised csv" in client.get(_subject_url(w)).content.decode()
    admin_page = _client(w.users.superuser).get(_admin(AccessLog, "changelist")).content.decode()
    assert "old pseudonymised csv" in admin_page
