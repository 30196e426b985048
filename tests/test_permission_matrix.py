"""The permission matrix: every URL pattern of the project, asked by every kind of actor.

The patterns are found by walking the resolver, so a new view without a rule in RULES fails
`test_every_url_pattern_has_a_rule` ("add a rule for …"), and a rule whose pattern is gone
fails it too. Each rule says how to build the URL's arguments from the shared world
(`tests/conftest.py: build_world`) and what each actor gets, derived from the rules of
`institutions/access.py` and the views' docstrings:

- anonymous: the login page for staff pages; public pages as designed (200, or 404 for what is
  not public);
- an account without any institution: 403 with an explanation on staff pages;
- the record's own institution: viewer, editor, institution administrator, programme staff —
  403 for a change they may see but not make, 404 for personal data they may not see;
- another institution's administrator and programme staff: 404, never 403, for a record of
  another institution (its existence is not revealed);
- the superuser: everything.

Pages are asked with GET; POST-only endpoints are posted with empty data (and must answer
405 to a GET); a page refused to a staff member on GET is posted to as well, and must refuse
again. A refused answer (login, 403, 404, 405) must change nothing in the database, and no
answer may show an actor text it may not see (a draft's title, a meeting, a participant's
name or register number). Where the code's answer looks wrong, the case is marked
`xfail(strict=True)` with the reason starting with "BUG:", for the lead to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import changed_tables, fingerprint

pytestmark = pytest.mark.django_db

# --- Actors and answers -------------------------------------------------------------------

ANONYMOUS = "anonymous"
NO_INSTITUTION = "no_institution"
SUPERUSER = "superuser"
VIEWER = "viewer"
EDITOR = "editor"
ADMIN = "admin"
PROGRAMME = "programme"
OTHER_ADMIN = "other_admin"
OTHER_PROGRAMME = "other_programme"

ACTORS = (
    ANONYMOUS,
    NO_INSTITUTION,
    SUPERUSER,
    VIEWER,
    EDITOR,
    ADMIN,
    PROGRAMME,
    OTHER_ADMIN,
    OTHER_PROGRAMME,
)
#: The world's user of each logged-in actor.
ACCOUNT = {
    NO_INSTITUTION: "nobody",
    SUPERUSER: "superuser",
    VIEWER: "viewer",
    EDITOR: "editor",
    ADMIN: "admin",
    PROGRAMME: "programme",
    OTHER_ADMIN: "other_admin",
    OTHER_PROGRAMME: "other_programme",
}
STAFF_ACTORS = (SUPERUSER, VIEWER, EDITOR, ADMIN, PROGRAMME, OTHER_ADMIN, OTHER_PROGRAMME)

OWN_STAFF = frozenset({VIEWER, EDITOR, ADMIN, PROGRAMME})
#: Editors and administrators of the record's institution: they change agreements.
OWN_EDITORS = frozenset({EDITOR, ADMIN})
#: Staff of the record's institution who see it but may not change it.
OWN_READERS = OWN_STAFF - OWN_EDITORS
#: Programme staff and administrators: personal data (UU PDP 27/2022).
OWN_PERSONAL_DATA = frozenset({ADMIN, PROGRAMME})
OWN_WITHOUT_PERSONAL_DATA = OWN_STAFF - OWN_PERSONAL_DATA
OTHERS = frozenset({OTHER_ADMIN, OTHER_PROGRAMME})
ALL_STAFF = OWN_STAFF | OTHERS
#: Accounts with an editing role somewhere (their own institution's forms).
EDITORS_ANYWHERE = frozenset({EDITOR, ADMIN, OTHER_ADMIN})
PERSONAL_DATA_ANYWHERE = frozenset({ADMIN, PROGRAMME, OTHER_ADMIN, OTHER_PROGRAMME})

OK = 200
DENIED = 403
HIDDEN = 404
NOT_ALLOWED = 405
LOGIN = "a redirect to the login page"
MOVED = "a redirect (not to the login page)"
#: Answers that refuse: nothing may change in the database.
REFUSALS = frozenset({LOGIN, DENIED, HIDDEN, NOT_ALLOWED})


def everyone(answer) -> dict[str, object]:
    """A page that answers the same to everyone, logged in or not."""
    return dict.fromkeys(ACTORS, answer)


def logged_in(answer) -> dict[str, object]:
    """A page for any logged-in account (with or without an institution)."""
    return {**dict.fromkeys(ACTORS, answer), ANONYMOUS: LOGIN}


def staff(
    allowed: Iterable[str], answer=OK, *, refused: Iterable[str] = (), rest=HIDDEN
) -> dict[str, object]:
    """A staff page (`access.staff_required`): anonymous → login, an account without an
    institution → 403; the superuser and `allowed` → `answer`; `refused` → 403 (they see the
    record but may not do this); every other staff actor → `rest` (404: not revealed)."""
    allowed, refused = frozenset(allowed), frozenset(refused)
    expected: dict[str, object] = {ANONYMOUS: LOGIN, NO_INSTITUTION: DENIED}
    for actor in STAFF_ACTORS:
        if actor == SUPERUSER or actor in allowed:
            expected[actor] = answer
        elif actor in refused:
            expected[actor] = DENIED
        else:
            expected[actor] = rest
    return expected


def not_public(allowed: Iterable[str]) -> dict[str, object]:
    """A public page of something not public (a draft): the superuser and `allowed` see it,
    everyone else gets 404, logged in or not."""
    return {**staff(allowed), ANONYMOUS: HIDDEN, NO_INSTITUTION: HIDDEN}


@dataclass(frozen=True)
class Case:
    """One way of asking a URL: its arguments from the world, the method, a query string, and
    the answer expected by each actor. `bugs` marks actors whose answer is known to be wrong
    (actor → "BUG: …")."""

    expect: Mapping[str, object]
    args: Callable[[SimpleNamespace], tuple] = lambda w: ()
    method: str = "GET"
    query: str = ""
    variant: str = ""
    bugs: Mapping[str, str] = field(default_factory=dict)
    #: Kinds of private text (see SEES) that this page may show to whoever it answers.
    may_show: frozenset[str] = frozenset()


def get(expect, args=lambda w: (), **kwargs) -> Case:
    return Case(expect=expect, args=args, **kwargs)


def post(expect, args=lambda w: (), **kwargs) -> Case:
    """A POST-only endpoint, posted with empty data."""
    return Case(expect=expect, args=args, method="POST", **kwargs)


# --- The rules ------------------------------------------------------------------------------


def _draft(w):
    return (w.draft.pk,)


def _signed(w):
    return (w.signed.pk,)


def _own(w):
    return (w.own.pk,)


def _member(w):
    return (w.own.pk, w.users.viewer.pk)


def _meeting(w):
    return (w.meeting.pk,)


def _programme(w):
    return (w.programme.pk,)


def _participant(w):
    return (w.participant.pk,)


def _enrolment(w):
    return (w.enrolment.pk,)


def _transfer_request(w):
    """A pending request of `own` to transfer a participant to `other` (made inside the test,
    which is rolled back): `own` sent it, `other` decides on it."""
    from rehabilitation.services import participants

    request = participants.transfer_request_create(
        participant=w.unenrolled,
        user=w.users.programme,
        to_institution=w.other,
        date=w.today,
        register_number="LAIN-009",
        reason="Pindah",
    )
    return (request.pk,)


#: The receiving institution's personal-data staff, who decide on a request from `own`.
RECEIVERS = frozenset({OTHER_ADMIN, OTHER_PROGRAMME})


def _stale_feed(w):
    from agreements.models import CalendarFeed

    feed, _made = CalendarFeed.objects.get_or_create(user=w.users.other_admin, institution=w.own)
    return (feed.token,)


RULES: dict[str, tuple[Case, ...]] = {
    # Public pages: signed agreements are public information.
    "public:registry": (get(everyone(OK)),),
    "public:agreement": (
        get(everyone(OK), _signed, variant="signed"),
        get(not_public(OWN_STAFF), _draft, variant="draft"),
    ),
    "public:agreement_pdf": (
        get(everyone(OK), _signed, variant="signed"),
        get(not_public(OWN_STAFF), _draft, variant="draft"),
    ),
    "public:agreement_scan": (
        get(everyone(OK), _signed, variant="signed"),
        get(everyone(HIDDEN), _draft, variant="draft"),
    ),
    "public:verify": (
        get(everyone(OK), lambda w: (w.issued.verification_code,), variant="issued"),
        get(everyone(HIDDEN), lambda w: ("UNKNOWN-CODE",), variant="unknown"),
    ),
    "rehabilitation:public_statistics": (get(everyone(OK)),),
    "agreements:calendar_feed": (
        # The long random token is the key: whoever holds it reads what its owner (the
        # viewer of `own`) may see, while the owner holds a role there.
        get(
            everyone(OK),
            lambda w: (w.feed.token,),
            variant="token",
            may_show=frozenset({"internal"}),
        ),
        get(everyone(HIDDEN), lambda w: ("not-a-token",), variant="unknown"),
        # A feed whose owner holds no role at its institution (however the role ended).
        get(everyone(HIDDEN), _stale_feed, variant="owner without a role"),
    ),
    "healthz": (get(everyone(OK)),),
    "readyz": (get(everyone(OK)),),
    # Accounts.
    "login": (get(everyone(OK)),),
    "login_code": (get(everyone(LOGIN)),),  # no password step pending: back to the login
    "logout": (post(everyone(MOVED)),),
    "password_change": (get(logged_in(OK)),),
    "password_change_done": (get(logged_in(OK)),),
    "password_reset": (get(everyone(OK)),),
    "password_reset_done": (get(everyone(OK)),),
    "password_reset_confirm": (get(everyone(OK), lambda w: ("MQ", "not-a-valid-token")),),
    "password_reset_complete": (get(everyone(OK)),),
    "two_factor": (get(logged_in(OK)),),
    "admin_login": (get(everyone(LOGIN)),),  # one login for everyone
    # The staff home.
    "staff:home": (get(staff(ALL_STAFF)),),
    # Agreements.
    "agreements:list": (get(staff(ALL_STAFF)),),
    "agreements:export": (
        get(staff(ALL_STAFF), lambda w: ("csv",), variant="csv"),
        get(staff(ALL_STAFF, HIDDEN), lambda w: ("pdf",), variant="unknown format"),
    ),
    "agreements:create": (
        # Only accounts with an editing role somewhere get the form (like programmes).
        get(staff(EDITORS_ANYWHERE, refused=(VIEWER, PROGRAMME, OTHER_PROGRAMME))),
    ),
    "agreements:detail": (
        get(staff(OWN_STAFF), _draft, variant="draft"),
        get(staff(OWN_STAFF), _signed, variant="signed"),
    ),
    "agreements:edit": (
        get(staff(OWN_EDITORS, refused=OWN_READERS), _draft, variant="draft"),
        # A signed agreement no longer changes: back to its page with the reason.
        get(staff(OWN_EDITORS, MOVED, refused=OWN_READERS), _signed, variant="signed"),
    ),
    "agreements:parties": (get(staff(OWN_EDITORS, refused=OWN_READERS), _draft),),
    "agreements:articles": (get(staff(OWN_EDITORS, refused=OWN_READERS), _draft),),
    "agreements:move": (post(staff(OWN_EDITORS, MOVED, refused=OWN_READERS), _draft),),
    "agreements:terminate": (get(staff(OWN_EDITORS, refused=OWN_READERS), _signed),),
    "agreements:addendum": (get(staff(OWN_EDITORS, refused=OWN_READERS), _signed),),
    "agreements:renew": (post(staff(OWN_EDITORS, MOVED, refused=OWN_READERS), _signed),),
    "agreements:archive": (post(staff(OWN_EDITORS, MOVED, refused=OWN_READERS), _signed),),
    # Not archived: back to the agreement with the reason.
    "agreements:restore": (post(staff(OWN_EDITORS, MOVED, refused=OWN_READERS), _signed),),
    "agreements:signing_create": (
        # Only accounts with an editing role somewhere get the form (like programmes).
        get(staff(EDITORS_ANYWHERE, refused=(VIEWER, PROGRAMME, OTHER_PROGRAMME))),
    ),
    "agreements:signing_detail": (get(staff(OWN_STAFF), lambda w: (w.event.pk,)),),
    # Meetings: the whole lists behind the staff home's sections (each staff member's own).
    "agreements:meetings": (get(staff(ALL_STAFF)),),
    "agreements:follow_ups": (get(staff(ALL_STAFF)),),
    "agreements:meeting_create": (get(staff(OWN_EDITORS, refused=OWN_READERS), _draft),),
    "agreements:meeting_detail": (
        get(staff(OWN_STAFF), _meeting, variant="hosted by a party"),
        get(
            staff(OWN_STAFF | OTHERS),
            lambda w: (w.hosted_elsewhere.pk,),
            variant="hosted by another institution",
            # access.py: a draft's meetings are seen by the parties' staff and the host's.
            may_show=frozenset({"internal"}),
        ),
    ),
    "agreements:meeting_edit": (
        get(staff(OWN_EDITORS, refused=OWN_READERS), _meeting, variant="hosted by a party"),
        # The host sees the meeting but changes only what a party's editor changes.
        get(
            staff(OWN_EDITORS, refused=OWN_READERS | OTHERS),
            lambda w: (w.hosted_elsewhere.pk,),
            variant="hosted by another institution",
        ),
    ),
    "agreements:meeting_ics": (
        get(staff(OWN_STAFF), _meeting, variant="hosted by a party"),
        get(
            staff(OWN_STAFF | OTHERS),
            lambda w: (w.hosted_elsewhere.pk,),
            variant="hosted by another institution",
            # access.py: a draft's meetings are seen by the parties' staff and the host's.
            may_show=frozenset({"internal"}),
        ),
    ),
    # An empty attendee form comes back with its errors.
    "agreements:attendee_add": (post(staff(OWN_EDITORS, refused=OWN_READERS), _meeting),),
    "agreements:attendee_remove": (
        post(staff(OWN_EDITORS, MOVED, refused=OWN_READERS), lambda w: (w.attendee.pk,)),
    ),
    "agreements:follow_up_create": (get(staff(OWN_EDITORS, refused=OWN_READERS), _meeting),),
    "agreements:follow_up_done": (
        post(staff(OWN_EDITORS, MOVED, refused=OWN_READERS), lambda w: (w.follow_up.pk,)),
    ),
    "agreements:follow_up_reopen": (
        post(staff(OWN_EDITORS, MOVED, refused=OWN_READERS), lambda w: (w.follow_up.pk,)),
    ),
    # Documents and calendars.
    "agreements:scans": (get(staff(OWN_STAFF), _signed),),
    "agreements:scan_upload": (post(staff(OWN_EDITORS, refused=OWN_READERS), _signed),),
    "agreements:scan_download": (get(staff(OWN_STAFF), lambda w: (w.scan.pk,)),),
    "agreements:calendar": (get(staff(ALL_STAFF)),),
    # Each member makes, replaces and removes only their own address; 404 elsewhere.
    "agreements:calendar_regenerate": (post(staff(OWN_STAFF, MOVED), _own),),
    "agreements:calendar_revoke": (post(staff(OWN_STAFF, MOVED), _own),),
    # Programmes: seen by any staff of the host and partners, changed by the host's editors.
    "rehabilitation:programmes": (get(staff(ALL_STAFF)),),
    "rehabilitation:programme_create": (
        get(staff(EDITORS_ANYWHERE, refused=(VIEWER, PROGRAMME, OTHER_PROGRAMME))),
    ),
    "rehabilitation:programme": (get(staff(OWN_STAFF), _programme),),
    "rehabilitation:programme_edit": (get(staff(OWN_EDITORS, refused=OWN_READERS), _programme),),
    "rehabilitation:programme_phases": (get(staff(OWN_EDITORS, refused=OWN_READERS), _programme),),
    "rehabilitation:programme_report": (get(staff(OWN_STAFF), _programme),),
    "rehabilitation:institution_report": (get(staff(OWN_STAFF), _own),),
    # Personal data: programme staff and administrators only; 404 for everyone else.
    "rehabilitation:participants": (
        get(staff(PERSONAL_DATA_ANYWHERE)),  # each sees their own institutions' participants
    ),
    "rehabilitation:participant_create": (
        get(staff(PERSONAL_DATA_ANYWHERE, refused=OWN_WITHOUT_PERSONAL_DATA)),
    ),
    "rehabilitation:participant": (get(staff(OWN_PERSONAL_DATA), _participant),),
    "rehabilitation:participant_edit": (get(staff(OWN_PERSONAL_DATA), _participant),),
    "rehabilitation:participant_transfer": (get(staff(OWN_PERSONAL_DATA), _participant),),
    "rehabilitation:participant_archive": (
        post(staff(OWN_PERSONAL_DATA, MOVED), lambda w: (w.unenrolled.pk,)),
    ),
    # Not archived: back to the record with the reason.
    "rehabilitation:participant_restore": (
        post(staff(OWN_PERSONAL_DATA, MOVED), lambda w: (w.unenrolled.pk,)),
    ),
    "rehabilitation:participant_screen": (
        get(staff(OWN_PERSONAL_DATA), lambda w: (w.unenrolled.pk,)),
    ),
    "rehabilitation:participants_export": (
        get(
            staff(PERSONAL_DATA_ANYWHERE, refused=OWN_WITHOUT_PERSONAL_DATA),
            lambda w: ("csv",),
            variant="pseudonymised",
        ),
        get(
            staff((ADMIN, OTHER_ADMIN), refused=(VIEWER, EDITOR, PROGRAMME, OTHER_PROGRAMME)),
            lambda w: ("csv",),
            query="identified=1",
            variant="identified",
        ),
        get(
            staff(ALL_STAFF, HIDDEN),
            lambda w: ("pdf",),
            variant="unknown format",
        ),
    ),
    # Transfer requests: the sending and the receiving institution's personal-data staff;
    # the receivers see the name and register numbers while they decide.
    "rehabilitation:transfer_requests": (get(staff(PERSONAL_DATA_ANYWHERE)),),
    "rehabilitation:transfer_request": (
        get(
            staff(OWN_PERSONAL_DATA | RECEIVERS),
            _transfer_request,
            may_show=frozenset({"personal"}),
        ),
    ),
    # Empty forms come back with their errors (to those who may decide); the sender may not.
    "rehabilitation:transfer_request_accept": (
        post(
            staff(RECEIVERS, refused=OWN_PERSONAL_DATA),
            _transfer_request,
            may_show=frozenset({"personal"}),
        ),
    ),
    "rehabilitation:transfer_request_refuse": (
        post(
            staff(RECEIVERS, refused=OWN_PERSONAL_DATA),
            _transfer_request,
            may_show=frozenset({"personal"}),
        ),
    ),
    "rehabilitation:transfer_request_cancel": (
        post(staff(OWN_PERSONAL_DATA, MOVED, refused=RECEIVERS), _transfer_request),
    ),
    "rehabilitation:enrolments": (get(staff(PERSONAL_DATA_ANYWHERE)),),
    "rehabilitation:enrolment": (get(staff(OWN_PERSONAL_DATA), _enrolment),),
    "rehabilitation:enrolment_assess": (
        get(staff(OWN_PERSONAL_DATA), lambda w: (w.enrolment_screened.pk,)),
    ),
    "rehabilitation:enrolment_enrol": (
        get(staff(OWN_PERSONAL_DATA), lambda w: (w.enrolment_assessed.pk,)),
    ),
    "rehabilitation:enrolment_next_phase": (get(staff(OWN_PERSONAL_DATA), _enrolment),),
    "rehabilitation:enrolment_complete": (
        get(staff(OWN_PERSONAL_DATA), lambda w: (w.enrolment_last_phase.pk,)),
    ),
    "rehabilitation:enrolment_end": (get(staff(OWN_PERSONAL_DATA), _enrolment),),
    "rehabilitation:enrolment_screening": (get(staff(OWN_PERSONAL_DATA), _enrolment),),
    "rehabilitation:sessions": (get(staff(OWN_PERSONAL_DATA), _programme),),
    "rehabilitation:session_create": (get(staff(OWN_PERSONAL_DATA), _programme),),
    "rehabilitation:session": (get(staff(OWN_PERSONAL_DATA), lambda w: (w.session.pk,)),),
    "rehabilitation:note_add": (get(staff(OWN_PERSONAL_DATA), _enrolment),),
    "rehabilitation:score_add": (get(staff(OWN_PERSONAL_DATA), _enrolment),),
    "rehabilitation:access_log": (get(staff({ADMIN}), _own),),
    # A participant's "who has seen my record", for the administrators of their institution.
    "rehabilitation:participant_access_log": (
        get(staff({ADMIN}), _participant),
        get(staff({ADMIN}), _participant, query="format=csv", variant="csv"),
    ),
    # Staff accounts: the institution's administrators only; 404 for everyone else.
    "institutions:staff": (get(staff({ADMIN}), _own),),
    "institutions:staff_create": (get(staff({ADMIN}), _own),),
    "institutions:member_add": (post(staff({ADMIN}), _own),),  # empty form: its errors
    "institutions:role_grant": (post(staff({ADMIN}, MOVED), _member),),
    "institutions:role_revoke": (post(staff({ADMIN}, MOVED), _member),),
    "institutions:member_remove": (get(staff({ADMIN}), _member),),  # the confirmation page
    "institutions:password_email": (post(staff({ADMIN}, MOVED), _member),),
}


# --- The URL patterns of the project ----------------------------------------------------------


def _is_djangos_own(entry: URLPattern | URLResolver) -> bool:
    """The admin's own patterns (tests/test_admin.py covers them), Django's i18n and static."""
    if isinstance(entry, URLResolver):
        module = getattr(entry.urlconf_module, "__name__", "")
        return entry.namespace == "admin" or module == "django.conf.urls.i18n"
    module = getattr(entry.callback, "__module__", "")
    return module in (
        "django.views.i18n",
        "django.views.static",
        "django.contrib.staticfiles.views",
    )


def _walk(
    patterns, prefix: str = "", namespace: str | None = None
) -> Iterator[tuple[str | None, str]]:
    for entry in patterns:
        if _is_djangos_own(entry):
            continue
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, route, inner)
        elif entry.name is None:
            yield None, route
        else:
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), route


def project_url_patterns() -> dict[str | None, list[str]]:
    """Every URL pattern of the project by its name (namespace:name), with its routes;
    unnamed patterns under None."""
    found: dict[str | None, list[str]] = {}
    for name, route in _walk(get_resolver().url_patterns):
        found.setdefault(name, []).append(route)
    return found


def test_every_url_pattern_has_a_rule():
    patterns = project_url_patterns()
    unnamed = patterns.pop(None, [])
    assert not unnamed, f"give these URL patterns a name, then a rule in RULES: {unnamed}"
    missing = sorted(set(patterns) - set(RULES))
    assert not missing, "\n".join(
        f"add a rule for {name} ({', '.join(patterns[name])}) to RULES in {__name__}"
        for name in missing
    )
    stale = sorted(set(RULES) - set(patterns))
    assert not stale, f"these rules name URL patterns that no longer exist: {stale}"


def test_every_rule_answers_every_actor():
    for name, cases in RULES.items():
        for case in cases:
            assert set(case.expect) == set(ACTORS), (name, case.variant)
            assert set(case.bugs) <= set(ACTORS), (name, case.variant)
            assert case.method in ("GET", "POST"), (name, case.variant)


# --- Asking -----------------------------------------------------------------------------------


def _matches(response, answer, login_path: str) -> bool:
    status = response.status_code
    if answer == LOGIN:
        return status == 302 and urlsplit(response["Location"]).path == login_path
    if answer == MOVED:
        return 300 <= status < 400 and urlsplit(response["Location"]).path != login_path
    return status == answer


def _describe(response) -> str:
    where = f" → {response['Location']}" if response.has_header("Location") else ""
    return f"{response.status_code}{where}"


#: Who may see each kind of the world's private text.
SEES = {
    "internal": frozenset({SUPERUSER}) | OWN_STAFF,
    "personal": frozenset({SUPERUSER}) | OWN_PERSONAL_DATA,
}


def _secrets(world: SimpleNamespace) -> dict[str, list[str]]:
    """Text of the world that only some actors may see, on any page: a draft and its
    meeting (internal to the parties' staff), participants (personal data)."""
    return {
        "internal": [world.draft.title, world.meeting.venue],
        "personal": [
            world.participant.full_name,
            world.participant.register_number,
            world.unenrolled.full_name,
        ],
    }


def _body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode(errors="replace")


def _client_for(world: SimpleNamespace, actor: str) -> Client:
    client = Client()
    if actor != ANONYMOUS:
        client.force_login(getattr(world.users, ACCOUNT[actor]))
    return client


def _url(world: SimpleNamespace, name: str, case: Case) -> str:
    url = reverse(name, args=case.args(world))
    return f"{url}?{case.query}" if case.query else url


def _params() -> Iterator:
    for name, cases in RULES.items():
        for index, case in enumerate(cases):
            for actor in ACTORS:
                label = f"{name}[{case.variant}]" if case.variant else name
                marks = ()
                if actor in case.bugs:
                    marks = pytest.mark.xfail(strict=True, reason=case.bugs[actor])
                yield pytest.param(name, index, actor, id=f"{label}-{actor}", marks=marks)


@pytest.mark.parametrize(("name", "index", "actor"), list(_params()))
def test_answer(shared_world, world_media, name, index, actor):
    case = RULES[name][index]
    answer = case.expect[actor]
    client = _client_for(shared_world, actor)
    url = _url(shared_world, name, case)
    refused = answer in REFUSALS
    before = fingerprint() if refused else None
    response = client.get(url) if case.method == "GET" else client.post(url, {})
    assert _matches(response, answer, reverse("login")), (
        f"{case.method} {url} as {actor}: expected {answer}, got {_describe(response)}"
    )
    body = _body(response)
    leaked = [
        secret
        for kind, secrets in _secrets(shared_world).items()
        if kind not in case.may_show and actor not in SEES[kind]
        for secret in secrets
        if secret in body
    ]
    assert not leaked, f"{case.method} {url} as {actor} shows what it may not see: {leaked}"
    if refused:
        changed = changed_tables(before, fingerprint())
        assert not changed, f"{case.method} {url} as {actor} was refused but changed {changed}"


POST_ONLY = [
    pytest.param(name, index, id=f"{name}[{case.variant}]" if case.variant else name)
    for name, cases in RULES.items()
    for index, case in enumerate(cases)
    if case.method == "POST"
]


@pytest.mark.parametrize(("name", "index"), POST_ONLY)
@pytest.mark.parametrize("actor", [ANONYMOUS, SUPERUSER])
def test_post_only_endpoints_refuse_get(shared_world, world_media, name, index, actor):
    case = RULES[name][index]
    url = _url(shared_world, name, case)
    before = fingerprint()
    response = _client_for(shared_world, actor).get(url)
    assert response.status_code == NOT_ALLOWED, f"GET {url} as {actor}: {_describe(response)}"
    assert not changed_tables(before, fingerprint())


def _refused_pages() -> Iterator:
    for name, cases in RULES.items():
        for index, case in enumerate(cases):
            if case.method != "GET":
                continue
            for actor in STAFF_ACTORS:
                if case.expect[actor] in (DENIED, HIDDEN) and actor not in case.bugs:
                    label = f"{name}[{case.variant}]" if case.variant else name
                    yield pytest.param(name, index, actor, id=f"{label}-{actor}")


@pytest.mark.parametrize(("name", "index", "actor"), list(_refused_pages()))
def test_refused_staff_cannot_post_either(shared_world, world_media, name, index, actor):
    """A page refused to a staff member on GET is refused on POST too (or the page takes no
    POST at all), and nothing changes: the check does not depend on the method."""
    case = RULES[name][index]
    url = _url(shared_world, name, case)
    client = _client_for(shared_world, actor)
    before = fingerprint()
    response = client.post(url, {})
    assert response.status_code in (case.expect[actor], NOT_ALLOWED), (
        f"POST {url} as {actor}: expected {case.expect[actor]} (or 405), got {_describe(response)}"
    )
    assert not changed_tables(before, fingerprint())
