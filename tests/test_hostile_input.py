"""Hostile input in every URL: never a 500, on SQLite and on PostgreSQL.

Every URL pattern of the project (found as the permission matrix finds them, asked with the
matrix's arguments) is asked, as an anonymous visitor and as staff, with every GET parameter
that a view reads set to hostile values: NUL, huge and negative numbers, malformed dates, 100 kB
strings, invalid UTF-8. Every path parameter is replaced by such values too. The answer may be
anything but a server error: text the database cannot hold is refused with 400
(config.middleware.HostileInputMiddleware), other values are form errors or ignored.

`GET_PARAMETERS` lists the GET keys the views read; `test_the_list_of_get_parameters_is_complete`
finds them in the code (`request.GET.get("…")` and the forms bound to `request.GET`) and fails
when a view reads one that is not listed.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from axes.models import AccessAttempt
from django import forms
from django.urls import resolve, reverse

from tests import factories
from tests import test_permission_matrix as matrix

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent

#: Every GET parameter a view reads, directly or through a form bound to request.GET.
GET_PARAMETERS = frozenset(
    {
        # agreements: the public registry, the staff list and export (AgreementFilterForm)
        "q",
        "status",
        "page",
        "party",
        "kind",
        "year",
        "expiring",
        "days",
        "archived",
        # agreements: a meeting's decision view
        "decision",
        # agreements: the open follow-up list (FollowUpFilterForm)
        "overdue",
        "owner",
        # rehabilitation: reports (PeriodForm), exports, enrolment list (EnrolmentFilterForm),
        # the access log (AccessLogFilterForm)
        "format",
        "start",
        "end",
        "identified",
        "programme",
        "user",
        "action",
        "date_from",
        "date_to",
        # the access log's filters and the reason for a read of a participant's record
        "participant",
        "reason",
        # the login, the two-factor page and the lockout page
        "next",
    }
)

#: Functions that bind a form to request.GET, with the form they bind.
FORM_BINDERS = {"filter_agreements": "agreements.filters.AgreementFilterForm"}

#: Query-string values, already percent-encoded as a client may send them.
HOSTILE_VALUES = {
    "nul": "%00",
    "nul inside": "abc%00def",
    "huge number": "9" * 40,
    "beyond 64 bits": "9223372036854775808",
    "negative id": "-1",
    "very negative": "-" + "9" * 30,
    "malformed date": "2025-02-30",
    "year zero": "0000-00-00",
    "huge year": "99999-01-01",
    "date words": "yesterday",
    "100 kB": "a" * 100_000,
    "invalid utf-8": "%FF%FE%C3",
    "overlong utf-8": "%C0%AF",
    "lone surrogate": "%ED%A0%80",
}
ACTORS = (matrix.ANONYMOUS, matrix.SUPERUSER, matrix.ADMIN)


def _get_cases():
    for name, cases in matrix.RULES.items():
        for index, case in enumerate(cases):
            if case.method == "GET":
                yield name, index


def _get_params():
    for name, index in _get_cases():
        for actor in ACTORS:
            yield pytest.param(name, index, actor, id=f"{name}[{index}]-{actor}")


def _body(response) -> None:
    if response.streaming:
        b"".join(response.streaming_content)


@functools.cache
def _keys_by_module() -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for key, modules in _read_get_keys().items():
        for module in modules:
            found.setdefault(module, set()).add(key)
    return {module: frozenset(keys) for module, keys in found.items()}


def _keys_read_by(path: str) -> frozenset[str]:
    """The GET keys read in the module of the view answering `path`."""
    return _keys_by_module().get(resolve(path).func.__module__, frozenset())


@pytest.mark.parametrize(("name", "index", "actor"), list(_get_params()))
def test_hostile_get_parameters_are_no_server_error(shared_world, world_media, name, index, actor):
    case = matrix.RULES[name][index]
    base = reverse(name, args=case.args(shared_world))
    client = matrix._client_for(shared_world, actor)
    plain = client.get(f"{base}?{case.query}")
    _body(plain)
    for label, value in HOSTILE_VALUES.items():
        query = "&".join(f"{key}={value}" for key in sorted(GET_PARAMETERS))
        if case.query:
            query = f"{case.query}&{query}"
        response = client.get(f"{base}?{query}")
        _body(response)
        assert response.status_code < 500, (label, response.status_code)
    if plain.status_code != 200 or actor != matrix.SUPERUSER:
        return
    # On a page that answers, one parameter at a time as well: a value may only reach the code
    # that breaks on it when the other parameters are valid. (Text the database cannot hold
    # is refused before any view whatever the key, so numbers and dates are enough here.)
    for key in sorted(_keys_read_by(base)):
        for label in ("huge number", "very negative", "malformed date"):
            response = client.get(f"{base}?{case.query}&{key}={HOSTILE_VALUES[label]}")
            _body(response)
            assert response.status_code < 500, (key, label, response.status_code)


#: Values for path parameters, by converter.
PATH_VALUES = {
    "int": ["9" * 40, "9223372036854775808", "0"],
    "str": ["%00", "a%00b", "%FF%FE", "a" * 100_000, "..", "%2e%2e", "-1", "9" * 40],
}


def _hostile_paths():
    for name, routes in matrix.project_url_patterns().items():
        for route in routes:
            converters = re.findall(r"<(?:(\w+):)?\w+>", route)
            if not converters:
                continue
            for converter in set(converters):
                for value in PATH_VALUES.get(converter or "str", []):
                    filled = re.sub(
                        r"<(?:(\w+):)?\w+>",
                        lambda m, c=converter, v=value: v if (m.group(1) or "str") == c else "1",
                        route,
                    )
                    yield pytest.param("/" + filled, id=f"{name}-{converter}-{value[:12]}")


@pytest.mark.parametrize("actor", [matrix.ANONYMOUS, matrix.SUPERUSER])
def test_hostile_path_parameters_are_no_server_error(shared_world, world_media, actor):
    client = matrix._client_for(shared_world, actor)
    paths = [param.values[0] for param in _hostile_paths()]
    assert paths
    for path in paths:
        response = client.get(path)
        _body(response)
        assert response.status_code < 500, (path[:80], response.status_code)


@pytest.mark.parametrize(
    "url", ["/?q=%00", "/verify/%00/", "/calendar/%00.ics", "/?q=%FF", "/pks/%00/"]
)
def test_text_the_database_cannot_hold_is_a_bad_request(client, url):
    assert client.get(url).status_code == 400


def test_a_nul_in_a_form_or_a_cookie_is_a_bad_request(client):
    assert client.post(reverse("login"), {"username": "a\x00b", "password": "x"}).status_code == 400
    assert (
        client.post(reverse("password_reset"), {"email": "a\x00@example.go.id"}).status_code == 400
    )
    client.cookies["sessionid"] = "abc\x00defghijklmnop"
    assert client.get(reverse("public:registry")).status_code == 400


def test_a_path_beyond_latin_1_is_no_server_error(client):
    # The test client (and a redirect to a `next` of such text) hands the path over as text,
    # not as WSGI's Latin-1 bytes; found by fuzzing the two-factor form's `next`.
    assert client.get("/\u00d6\x01*\u00d4`\U0002dbe4").status_code in (400, 404)


def test_ordinary_text_is_not_refused(client):
    response = client.get(reverse("public:registry"), {"q": "Rutan Kelas IIA — Pekalongan ☕"})
    assert response.status_code == 200


@pytest.fixture
def axes(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    return settings


def test_a_too_long_username_is_a_form_error_and_counted_by_the_lockout(client, axes):
    long_name = "x" * 300
    response = client.post(reverse("login"), {"username": long_name, "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].errors
    attempt = AccessAttempt.objects.get()
    assert attempt.username == long_name[:255]
    assert attempt.failures_since_start == 1
    for _ in range(2):
        response = client.post(reverse("login"), {"username": long_name, "password": "wrong"})
    assert response.status_code == 429  # locked out, like any other account
    # The address is locked for every account now, including one with a right password.
    factories.user("staf.benar")
    response = client.post(
        reverse("login"), {"username": "staf.benar", "password": factories.PASSWORD}
    )
    assert response.status_code == 429


def test_a_too_long_username_is_a_form_error_without_the_lockout_too(client):
    response = client.post(reverse("login"), {"username": "x" * 100_000, "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].errors


# --- The list of GET parameters ------------------------------------------------------------

_DIRECT = re.compile(
    r"request\.GET(?:\.get|\.getlist)?\(\s*[\"'](\w+)[\"']|request\.GET\[[\"'](\w+)"
)
_BOUND = re.compile(r"(\w+)\(\s*(?:request\.user,\s*)?request\.GET(?![.\[\w])")


def _import(dotted: str):
    module, _, attr = dotted.rpartition(".")
    return getattr(__import__(module, fromlist=[attr]), attr)


def _read_get_keys() -> dict[str, set[str]]:
    """Each GET key the project's code reads, with the files that read it."""
    found: dict[str, set[str]] = {}
    for app in ("agreements", "rehabilitation", "institutions", "config"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            keys: set[str] = set()
            for direct in _DIRECT.finditer(text):
                keys.add(direct.group(1) or direct.group(2))
            for bound in _BOUND.finditer(text):
                binder = bound.group(1)
                form = (
                    _import(FORM_BINDERS[binder])
                    if binder in FORM_BINDERS
                    else getattr(_import(module), binder, None)
                )
                assert isinstance(form, type) and issubclass(form, forms.BaseForm), (
                    f"{module} binds request.GET with {binder}: add it to FORM_BINDERS"
                )
                keys |= set(form.base_fields)
            for key in keys:
                found.setdefault(key, set()).add(module)
    return found


def test_the_list_of_get_parameters_is_complete():
    read = _read_get_keys()
    assert "q" in read and "start" in read  # the finder works
    missing = {key: sorted(modules) for key, modules in read.items() if key not in GET_PARAMETERS}
    assert not missing, f"add these GET parameters to GET_PARAMETERS in {__name__}: {missing}"


def test_the_hostile_values_are_sent_raw():
    # The invalid UTF-8 must reach the server as bytes, not re-encoded by the test.
    assert quote(HOSTILE_VALUES["invalid utf-8"], safe="%") == HOSTILE_VALUES["invalid utf-8"]
