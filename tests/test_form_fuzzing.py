"""Property-based fuzzing of every staff form, the login and account forms, the list filters,
the report periods and the public registry search.

Each form is filled like a browser would (the fields and initial values read from its page,
with valid values of the world for the fields that matter) and hypothesis then replaces one
field, many fields, or the encoding of the whole body with hostile input: SQL, HTML and
JavaScript, template syntax, control characters (NUL included), strings of 10,000+
characters, numbers out of range, impossible dates, fields left out, invalid UTF-8 sent as raw
bytes. For file uploads, random bytes.

The property: the answer is never a 5xx (a form error, a redirect, 400, 403, 404 or 405 are
fine), and an answer that is not a redirect changed nothing in the database (the personal-data
access log excepted: showing a form again is a view of the participant, logged as such).

Every example runs in a savepoint that is rolled back, inside the module's shared world
(`tests/conftest.py: build_world`), so examples do not see each other's rows.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import quote_from_bytes, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.conftest import changed_tables, fingerprint, small_pdf

pytestmark = pytest.mark.django_db

#: 25 examples a form keeps the file under ~90 s; FUZZ_EXAMPLES=500 explores further. No
#: shrinking: an example costs a request, and shrinking one of 10,000 characters takes minutes;
#: the failing example is reported as drawn, each value labelled with its field.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")),
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- Hostile input ------------------------------------------------------------------------------

HOSTILE = [
    # SQL
    "' OR '1'='1",
    "'; DROP TABLE agreements_agreement; --",
    '" OR 1=1 --',
    "1 UNION SELECT username, password FROM auth_user --",
    "%' AND 1=0 --",
    "\\'; SELECT pg_sleep(10); --",
    # HTML, JavaScript, templates
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(document.cookie)>',
    "javascript:alert(1)",
    "{{ request.user.password }}",
    "{% debug %}",
    "${7*7}",
    '=HYPERLINK("http://evil.example")',
    # Control characters and odd Unicode
    "\x00",
    "before\x00after",
    "\x01\x02\x03\x07\x08\x1b[31m",
    "line\r\nSet-Cookie: injected=1",
    "\t\v\f\x1c\x1d\x1e\x1f\x7f",
    "\u202egnp.exe",
    "\ufeff\u200b\u2028\u2029",
    "𝕳𝖊𝖑𝖑𝖔 👍🏽 ‮",
    "١٢٣",  # Arabic-Indic digits
    "../../../../etc/passwd",
    # Numbers
    "-1",
    "0",
    "2147483648",
    "-9223372036854775809",
    "99999999999999999999999999999999",
    "1e309",
    "NaN",
    "-0",
    "0x1F",
    "3.5",
    # Dates and times
    "0000-00-00",
    "9999-12-31",
    "0001-01-01",
    "2025-02-30",
    "31-12-2025",
    "2025-13-01",
    "25:61",
    "24:00",
    # Empty and blank
    "",
    " ",
    "\u3000",
]
#: Sequences that are not UTF-8, put into a form-encoded body as raw bytes.
INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\x80",
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: A field left out of the submitted data altogether.
MISSING = _Missing()


def _long_text() -> st.SearchStrategy[str]:
    return st.builds(
        lambda piece, times: piece * times,
        st.sampled_from(["a", "ü", "😀", "<b>", "'", "\x00", "9", " "]),
        st.integers(min_value=10_001, max_value=20_000),
    )


HOSTILE_TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=200),
    _long_text(),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.dates(min_value=datetime.date(1, 1, 1)).map(datetime.date.isoformat),
)
HOSTILE_VALUE = st.one_of(
    HOSTILE_TEXT,
    st.lists(HOSTILE_TEXT, min_size=0, max_size=4),
    st.just(MISSING),
)


# --- Forms --------------------------------------------------------------------------------------


#: The access log: written by every read of personal data (its lines and the records listed).
ACCESS_LOG_TABLES = frozenset({"rehabilitation.accesslog", "rehabilitation.accesslogrecord"})


@dataclass(frozen=True)
class FormSpec:
    """A form as submitted: where, by whom, with which valid values.

    `page` is where the form is shown (default: `url` itself, for forms that post to their own
    page); its fields and initial values are read from it, then `values` override them.
    `actor` names a user of the world (None: anonymous). `ignore` lists tables that may change
    even when the answer is an error.
    """

    url: Callable[[SimpleNamespace], str]
    values: Callable[[SimpleNamespace], Mapping[str, object]] = lambda w: {}
    actor: str | None = "editor"
    method: str = "POST"
    page: Callable[[SimpleNamespace], str] | None = None
    file_field: str | None = None
    ignore: frozenset[str] = frozenset()


def _url(name: str, *args: Callable[[SimpleNamespace], object]):
    return lambda w: reverse(name, args=[arg(w) for arg in args])


def _days_ago(w: SimpleNamespace, days: int) -> str:
    return (w.today - datetime.timedelta(days=days)).isoformat()


def _draft(w):
    return w.draft.pk


def _signed(w):
    return w.signed.pk


def _meeting(w):
    return w.meeting.pk


def _programme(w):
    return w.programme.pk


def _participant(w):
    return w.participant.pk


def _enrolment(w):
    return w.enrolment.pk


def _own(w):
    return w.own.pk


def _current_code(user) -> str:
    """The code the authenticator app shows now for the account's enrolment device (made when
    the two-factor page was read)."""
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


FILTERS = {
    "q": "PKS",
    "party": "",
    "kind": "pks",
    "status": "signed",
    "year": "2025",
    "expiring": "on",
    "days": "90",
    "page": "1",
}

FORMS: dict[str, FormSpec] = {
    # Agreements.
    "agreement create": FormSpec(
        _url("agreements:create"),
        lambda w: {
            "kind": "pks",
            "title": "PKS Uji",
            "subject": "Rehabilitasi",
            "first_party": str(w.own.pk),
            "other_parties": [str(w.partner.pk)],
            "term_months": "24",
        },
    ),
    "agreement details": FormSpec(
        _url("agreements:edit", _draft),
        lambda w: {
            "title": "PKS Diubah",
            "effective_date": _days_ago(w, -10),
            "end_date": _days_ago(w, -400),
            "term_months": "12",
            "notice_days": "30",
        },
    ),
    "agreement parties": FormSpec(
        _url("agreements:parties", _draft),
        lambda w: {
            "parties-0-institution": str(w.own.pk),
            "parties-0-number": "PKS/1/2025",
            "parties-0-signatory": str(w.signatory.pk),
            "parties-0-signatory_position": "Kepala Rutan",
            "parties-1-institution": str(w.partner.pk),
            "parties-1-number": "PKS/2/2025",
        },
    ),
    "agreement articles": FormSpec(
        _url("agreements:articles", _draft),
        lambda w: {
            "articles-0-heading": "Maksud dan Tujuan",
            "articles-0-body": "Isi pasal.",
        },
    ),
    "agreement move": FormSpec(
        _url("agreements:move", _draft),
        lambda w: {"to_status": "discussion", "reason": "Dibahas"},
        page=_url("agreements:detail", _draft),
    ),
    "agreement terminate": FormSpec(
        _url("agreements:terminate", _signed),
        lambda w: {"date": w.today.isoformat(), "reason": "Tidak dilanjutkan"},
    ),
    "agreement addendum": FormSpec(
        _url("agreements:addendum", _signed),
        lambda w: {"title": "Addendum I", "subject": "Perubahan Pasal 2"},
    ),
    "agreement archive": FormSpec(
        _url("agreements:archive", _signed), page=_url("agreements:detail", _signed)
    ),
    "signing": FormSpec(
        _url("agreements:signing_create"),
        lambda w: {
            "date": w.today.isoformat(),
            "start_time": "09:00",
            "venue": "Aula",
            "host": str(w.own.pk),
            "notes": "",
            "agreements": [str(w.ready.pk)],
        },
    ),
    # Meetings.
    "meeting schedule": FormSpec(
        _url("agreements:meeting_create", _draft),
        lambda w: {
            "date": w.today.isoformat(),
            "start_time": "09:00",
            "end_time": "11:00",
            "venue": "Ruang Rapat",
            "host": str(w.own.pk),
            "agenda": "Pembahasan",
        },
    ),
    "meeting edit": FormSpec(
        _url("agreements:meeting_edit", _meeting),
        lambda w: {"minutes": "Notulen", "decisions": "Keputusan 1\nKeputusan 2"},
    ),
    "meeting attendee": FormSpec(
        _url("agreements:attendee_add", _meeting),
        lambda w: {
            "person": "",
            "new_full_name": "Tamu Rapat",
            "new_nip": "198001012005011001",
            "new_email": "tamu@example.org",
            "position": "Kasubsi",
            "institution": str(w.own.pk),
        },
        page=_url("agreements:meeting_detail", _meeting),
    ),
    "meeting follow-up": FormSpec(
        _url("agreements:follow_up_create", _meeting),
        lambda w: {
            "description": "Menyiapkan naskah",
            "owner": str(w.own.pk),
            "due_date": _days_ago(w, -14),
        },
    ),
    "signed scan upload": FormSpec(
        _url("agreements:scan_upload", _signed),
        page=_url("agreements:scans", _signed),
        file_field="file",
    ),
    # Programmes.
    "programme create": FormSpec(
        _url("rehabilitation:programme_create"),
        lambda w: {
            "name": "Program Baru",
            "kind": "social",
            "host": str(w.own.pk),
            "partners": [str(w.partner.pk)],
            "agreement": str(w.signed.pk),
            "launch_date": _days_ago(w, 30),
            "launch_event": "",
            "capacity": "40",
            "description": "",
            "phases-0-name": "Orientasi",
            "phases-0-planned_weeks": "2",
            "phases-0-ORDER": "1",
        },
    ),
    "programme edit": FormSpec(
        _url("rehabilitation:programme_edit", _programme),
        lambda w: {"name": "Program Diubah", "capacity": "30"},
    ),
    "programme phases": FormSpec(
        _url("rehabilitation:programme_phases", _programme),
        lambda w: {"phases-0-name": "Orientasi Awal", "phases-0-planned_weeks": "3"},
    ),
    # Participants and enrolments (programme staff).
    "participant create": FormSpec(
        _url("rehabilitation:participant_create"),
        lambda w: {
            "institution": str(w.own.pk),
            "status": "tahanan",
            "register_number": "REG-FUZZ-1",
            "full_name": "Peserta Baru",
            "sex": "m",
            "birth_date": "1990-05-17",
            "case_article": "127",
            "substances": ["stimulants"],
            "use_duration_months": "24",
            "route": "smoked",
        },
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "participant edit": FormSpec(
        _url("rehabilitation:participant_edit", _participant),
        lambda w: {"full_name": "Nama Dikoreksi", "birth_date": "1991-01-01"},
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "participant transfer": FormSpec(
        _url("rehabilitation:participant_transfer", _participant),
        lambda w: {
            "to_institution": str(w.transfer_target.pk),
            "date": w.today.isoformat(),
            "register_number": "REG-PINDAH-1",
            "reason": "Pindah",
            "end_enrolments": "on",
        },
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "participant archive": FormSpec(
        _url("rehabilitation:participant_archive", lambda w: w.unenrolled.pk),
        actor="programme",
        page=_url("rehabilitation:participant", lambda w: w.unenrolled.pk),
        ignore=ACCESS_LOG_TABLES,
    ),
    "intake screening": FormSpec(
        _url("rehabilitation:participant_screen", lambda w: w.unenrolled.pk),
        lambda w: {
            "programme": str(w.programme.pk),
            "date": w.today.isoformat(),
            "score_stimulants": "30",
            "score_alcohol": "2",
        },
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "later screening": FormSpec(
        _url("rehabilitation:enrolment_screening", _enrolment),
        lambda w: {"date": w.today.isoformat(), "score_stimulants": "12"},
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "assessment": FormSpec(
        _url("rehabilitation:enrolment_assess", lambda w: w.enrolment_screened.pk),
        lambda w: {
            "date": w.today.isoformat(),
            "team": "dr. Sari",
            "recommendation": "social",
            "notes": "",
        },
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "enrol": FormSpec(
        _url("rehabilitation:enrolment_enrol", lambda w: w.enrolment_assessed.pk),
        lambda w: {"date": w.today.isoformat(), "reason": ""},
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "next phase": FormSpec(
        _url("rehabilitation:enrolment_next_phase", _enrolment),
        lambda w: {"date": w.today.isoformat(), "reason": ""},
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "completion": FormSpec(
        _url("rehabilitation:enrolment_complete", lambda w: w.enrolment_last_phase.pk),
        lambda w: {
            "date": w.today.isoformat(),
            "recovered": "yes",
            "skilled": "no",
            "independent": "yes",
            "reason": "",
        },
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "ending": FormSpec(
        _url("rehabilitation:enrolment_end", _enrolment),
        lambda w: {"to_status": "dropped_out", "date": w.today.isoformat(), "reason": "Keluar"},
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    # Sessions, attendance, notes and scores.
    "session": FormSpec(
        _url("rehabilitation:session_create", _programme),
        lambda w: {
            "date": w.today.isoformat(),
            "topic": "Konseling kelompok",
            "phase": str(w.phases[0].pk),
            "facilitator": "Konselor",
        },
        actor="programme",
    ),
    "attendance": FormSpec(
        _url("rehabilitation:session", lambda w: w.session.pk),
        lambda w: {f"mark_{w.enrolment.pk}": "present"},
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "progress note": FormSpec(
        _url("rehabilitation:note_add", _enrolment),
        lambda w: {"date": w.today.isoformat(), "text": "Kemajuan baik."},
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    "instrument score": FormSpec(
        _url("rehabilitation:score_add", _enrolment),
        lambda w: {"instrument": "whoqol", "date": w.today.isoformat(), "score": "60"},
        actor="programme",
        ignore=ACCESS_LOG_TABLES,
    ),
    # Staff accounts (institution administrator).
    "staff account create": FormSpec(
        _url("institutions:staff_create", _own),
        lambda w: {
            "username": "staf.baru",
            "full_name": "Staf Baru",
            "email": "staf.baru@example.org",
            "roles": ["viewer"],
        },
        actor="admin",
    ),
    "existing account add": FormSpec(
        _url("institutions:member_add", _own),
        lambda w: {
            "username": w.users.other_admin.username,
            "email": w.users.other_admin.email,
            "role": "viewer",
        },
        actor="admin",
        page=_url("institutions:staff", _own),
    ),
    "role grant": FormSpec(
        _url("institutions:role_grant", _own, lambda w: w.users.viewer.pk),
        lambda w: {"role": "editor"},
        actor="admin",
        page=lambda w: None,
    ),
    # Accounts.
    "login": FormSpec(
        lambda w: reverse("login"),
        lambda w: {"username": w.users.editor.username, "password": factories.PASSWORD},
        actor=None,
    ),
    "password change": FormSpec(
        lambda w: reverse("password_change"),
        lambda w: {
            "old_password": factories.PASSWORD,
            "new_password1": "a-new-long-password-2026",
            "new_password2": "a-new-long-password-2026",
        },
    ),
    "password reset": FormSpec(
        lambda w: reverse("password_reset"),
        lambda w: {"email": w.users.editor.email},
        actor=None,
    ),
    "two-factor code": FormSpec(
        lambda w: reverse("two_factor"),
        lambda w: {"otp_token": _current_code(w.users.editor)},
        ignore=frozenset({"otp_totp.totpdevice"}),
    ),
    # Filters, report periods and searches (GET).
    "agreement list filters": FormSpec(
        _url("agreements:list"), lambda w: {**FILTERS, "party": str(w.partner.pk)}, method="GET"
    ),
    "agreement export filters": FormSpec(
        lambda w: reverse("agreements:export", args=["csv"]),
        lambda w: {**FILTERS, "party": str(w.partner.pk)},
        method="GET",
        page=lambda w: None,
    ),
    "participant search": FormSpec(
        _url("rehabilitation:participants"),
        lambda w: {"q": "Peserta", "page": "1"},
        actor="programme",
        method="GET",
        ignore=ACCESS_LOG_TABLES,
    ),
    "participant export": FormSpec(
        lambda w: reverse("rehabilitation:participants_export", args=["xlsx"]),
        lambda w: {"identified": "1"},
        actor="admin",
        method="GET",
        page=lambda w: None,
        ignore=ACCESS_LOG_TABLES,
    ),
    "enrolment filters": FormSpec(
        _url("rehabilitation:enrolments"),
        lambda w: {"q": "MTX", "programme": str(w.programme.pk), "status": "in_phase"},
        actor="programme",
        method="GET",
        ignore=ACCESS_LOG_TABLES,
    ),
    "access log filters": FormSpec(
        _url("rehabilitation:access_log", _own),
        lambda w: {
            "user": str(w.users.programme.pk),
            "action": "view",
            "date_from": _days_ago(w, 30),
            "date_to": w.today.isoformat(),
            "page": "1",
        },
        actor="admin",
        method="GET",
        ignore=ACCESS_LOG_TABLES,  # reading the log is logged
    ),
    "programme report period": FormSpec(
        _url("rehabilitation:programme_report", _programme),
        lambda w: {"start": "2026-01-01", "end": "2026-12-31", "format": "html"},
        method="GET",
    ),
    "institution report period": FormSpec(
        _url("rehabilitation:institution_report", _own),
        lambda w: {"start": "2026-01-01", "end": "2026-12-31", "format": "xlsx"},
        method="GET",
    ),
    "public registry search": FormSpec(
        _url("public:registry"),
        lambda w: {"q": "Rehabilitasi", "status": "active", "page": "1"},
        actor=None,
        method="GET",
    ),
}


# --- Reading a form from its page ---------------------------------------------------------------


class _FormReader(HTMLParser):
    """The forms of a page: action, method and each field's submitted values, as a browser
    would send them untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = {
                "action": attrs.get("action") or "",
                "method": (attrs.get("method") or "get").lower(),
                "fields": {},
            }
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        fields = self._form["fields"]
        name = attrs.get("name")
        if tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            values = fields.setdefault(name, [])
            if kind not in ("checkbox", "radio") or "checked" in attrs:
                values.append(attrs.get("value") or ("on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
            fields.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            fields[self._select].append(attrs.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = name
            fields[name] = [""]

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _page_fields(html: str, page: str, target: str, method: str) -> dict[str, list[str]]:
    """The fields of the form of `page` that submits to `target` with `method`."""
    reader = _FormReader()
    reader.feed(html)
    for form in reader.forms:
        action = urlsplit(form["action"]).path or urlsplit(page).path
        if form["method"] == method.lower() and action == urlsplit(target).path:
            return {
                name: values
                for name, values in form["fields"].items()
                if name != "csrfmiddlewaretoken"
            }
    return {}


def _login(client: Client, world: SimpleNamespace, spec: FormSpec) -> None:
    if spec.actor is not None:
        client.force_login(getattr(world.users, spec.actor))


@pytest.fixture
def form(shared_world, world_media, name) -> SimpleNamespace:
    """Form `name` as a browser would submit it untouched: its URL, the fields and initial
    values read from its page, then the spec's valid values; and the database before."""
    spec = FORMS[name]
    url = spec.url(shared_world)
    page = (spec.page or spec.url)(shared_world)
    data: dict[str, object] = {}
    if page is not None:
        client = Client()
        _login(client, shared_world, spec)
        response = client.get(page)
        assert response.status_code == 200, f"{name}: GET {page} answered {response.status_code}"
        data.update(_page_fields(response.content.decode(), page, url, spec.method))
    data.update(spec.values(shared_world))
    if spec.file_field:
        data.pop(spec.file_field, None)
    # What the database holds before each example (each one is rolled back to it).
    return _Form(name=name, spec=spec, url=url, valid=data, before=fingerprint())


class _Form(SimpleNamespace):
    def __repr__(self) -> str:
        return f"<form {self.name!r}>"


# --- Sending ------------------------------------------------------------------------------------


def _as_list(value) -> list[str]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _raw_body(data: Mapping[str, object], corrupt: str | None, bad: bytes, escape: bool) -> bytes:
    """`data` form-encoded by hand, with the value of `corrupt` made invalid UTF-8 (either
    percent-escaped or as raw bytes in the body)."""
    parts = []
    for key, value in data.items():
        for item in _as_list(value):
            encoded = str(item).encode("utf-8")
            if key == corrupt:
                encoded = encoded[: len(encoded) // 2] + bad + encoded[len(encoded) // 2 :]
            text = quote_from_bytes(encoded).encode() if escape else encoded.replace(b"&", b"%26")
            parts.append(quote_from_bytes(key.encode()).encode() + b"=" + text)
    return b"&".join(parts)


def _send(client: Client, spec: FormSpec, url: str, data: dict, raw: tuple | None, upload):
    if raw is not None:
        corrupt, bad, escape = raw
        body = _raw_body(data, corrupt, bad, escape)
        if spec.method == "GET":
            return client.get(f"{url}?{body.decode('latin-1')}")
        return client.post(url, body, content_type="application/x-www-form-urlencoded")
    if spec.method == "GET":
        return client.get(url, data)
    if upload is not None:
        data = {**data, spec.file_field: upload}
    return client.post(url, data)


def _uploads() -> st.SearchStrategy:
    content = st.one_of(
        st.binary(max_size=4096),
        st.binary(max_size=2048).map(lambda tail: b"%PDF-1.7\n" + tail),
        st.binary(max_size=512).map(lambda tail: b"%PDF-1.4\n" + tail + b"\n%%EOF\n"),
        st.integers(min_value=1, max_value=600).map(lambda cut: small_pdf()[:-cut]),
        st.just(small_pdf()),
        st.just(b""),
    )
    names = st.sampled_from(
        [
            "scan.pdf",
            "../../../etc/passwd.pdf",
            "<script>alert(1)</script>.pdf",
            "a" * 300 + ".pdf",
            "scan",
            "skan naskah – final (2).PDF",
            ".pdf",
            "scan.pdf.exe",
        ]
    )
    return st.builds(
        lambda data, filename: SimpleUploadedFile(filename, data, "application/pdf"),
        content,
        names,
    )


@pytest.mark.parametrize("name", list(FORMS))
def test_the_valid_data_is_accepted(shared_world, form, name):
    """The starting point of the fuzzing is a form the application takes (a redirect after a
    POST, a page for a GET), so that one hostile field at a time probes the checks behind the
    form, not only its first error."""
    client = Client()
    _login(client, shared_world, form.spec)
    upload = SimpleUploadedFile("scan.pdf", small_pdf(), "application/pdf")
    response = _send(client, form.spec, form.url, dict(form.valid), None, upload)
    expected = 200 if form.spec.method == "GET" else 302
    assert response.status_code == expected, (
        f"{name}: {response.status_code} {_form_errors(response)}"
    )


def _form_errors(response) -> str:
    """The errors of the forms a page shows, to say why valid data was not taken."""
    found = []
    for key in ("form", "formset", "version_form", "attendee_form", "scan_form", "add_form"):
        try:
            shown = response.context[key]
        except (KeyError, TypeError):
            continue
        errors = [shown.errors]
        if hasattr(shown, "non_form_errors"):
            errors.append(shown.non_form_errors())
        found.append(f"{key}: {errors}")
    return "; ".join(found)


# --- Known bugs ---------------------------------------------------------------------------------
# When the fuzzing finds a bug: write a plain test that shows it (see the end of this file),
# marked xfail(strict=True) with the place and the fix, and add a predicate here, (name, data,
# raw) → bool, that sets its inputs aside in the fuzzing, so that the fuzzing keeps looking for
# new bugs instead of finding the known one again at random. Once the bug is fixed, the plain
# test passes and strict xfail fails the run: remove the marker and the predicate.
KNOWN_BUGS: tuple[Callable[[str, Mapping, object], bool], ...] = ()


@pytest.mark.parametrize("name", list(FORMS))
@FUZZ
@given(draw=st.data())
def test_hostile_input_gives_an_answer_and_loses_nothing(shared_world, form, name, draw):
    spec, url, valid = form.spec, form.url, form.valid

    how = draw.draw(st.sampled_from(["one field", "many fields", "invalid utf-8"]), label="how")
    data = dict(valid)
    names = sorted(data)
    if how == "one field" and names:
        target = draw.draw(st.sampled_from(names), label="field")
        data[target] = draw.draw(HOSTILE_VALUE, label=target)
    elif how == "many fields":
        for key in names:
            data[key] = draw.draw(st.one_of(st.just(data[key]), HOSTILE_VALUE), label=key)
    data = {key: value for key, value in data.items() if value is not MISSING}
    raw = None
    if how == "invalid utf-8" and data:
        raw = (
            draw.draw(st.sampled_from(sorted(data)), label="corrupted field"),
            draw.draw(st.sampled_from(INVALID_UTF8), label="bytes"),
            draw.draw(st.booleans(), label="percent-escaped"),
        )
    upload = draw.draw(_uploads(), label="upload") if spec.file_field else None
    assume(not any(bug(name, data, raw) for bug in KNOWN_BUGS))

    with transaction.atomic():
        client = Client()
        _login(client, shared_world, spec)
        response = _send(client, spec, url, data, raw, upload)
        status = response.status_code
        assert status < 500, f"{spec.method} {url}: {status}"
        if 300 <= status < 400:
            # Stored: the page the user is sent to shows what was saved, escaped.
            location = response["Location"]
            response = client.get(location)
            assert response.status_code < 500, f"GET {location} after {url}"
        else:
            changed = changed_tables(form.before, fingerprint(), spec.ignore)
            assert not changed, f"{spec.method} {url} answered {status} but changed {changed}"
        assert not _unescaped_markup(response), f"{spec.method} {url}: markup not escaped"
        transaction.set_rollback(True)


#: Markup of the hostile input that a page may only show escaped.
MARKUP = ("<script>alert(1)</script>", "<img src=x onerror=alert(document.cookie)>")


def _unescaped_markup(response) -> list[str]:
    if response.streaming or not response.get("Content-Type", "").startswith("text/html"):
        return []
    body = response.content.decode(errors="replace")
    return [probe for probe in MARKUP if probe in body]


# --- Bugs the fuzzing found, one plain test each (fixed; kept against their return) ----------


def _post(world, actor: str, url: str, data) -> int:
    client = Client()
    client.force_login(getattr(world.users, actor))
    before = fingerprint()
    response = client.post(url, data)
    if not 300 <= response.status_code < 400:
        changed = changed_tables(before, fingerprint(), frozenset({"rehabilitation.accesslog"}))
        assert not changed, f"POST {url} answered {response.status_code} but changed {changed}"
    return response.status_code


TOO_BIG = str(2**64)


@pytest.mark.parametrize(
    ("actor", "url", "data"),
    [
        pytest.param(
            "editor",
            lambda w: reverse("agreements:create"),
            lambda w: {
                "kind": "pks",
                "title": "PKS",
                "subject": "Uji",
                "first_party": w.own.pk,
                "other_parties": [TOO_BIG],
            },
            id="agreement create",
        ),
        pytest.param(
            "editor",
            lambda w: reverse("agreements:signing_create"),
            lambda w: {
                "date": "2026-01-05",
                "venue": "Aula",
                "host": w.own.pk,
                "agreements": [TOO_BIG],
            },
            id="signing",
        ),
        pytest.param(
            "editor",
            lambda w: reverse("rehabilitation:programme_edit", args=[w.programme.pk]),
            lambda w: {"name": "Program", "partners": [TOO_BIG], "version": w.programme.version},
            id="programme edit",
        ),
    ],
)
def test_out_of_range_choice_is_a_form_error(shared_world, world_media, actor, url, data):
    """A multiple choice of records given an integer beyond 64 bits is refused as an invalid
    choice (it was an OverflowError from SQLite in ModelMultipleChoiceField's query)."""
    assert _post(shared_world, actor, url(shared_world), data(shared_world)) == 200


@pytest.mark.parametrize(
    ("url", "data"),
    [
        pytest.param(
            lambda w: reverse("rehabilitation:programme_create"),
            lambda w: {
                "name": "Program",
                "kind": "social",
                "host": w.own.pk,
                "agreement": w.signed.pk,
                "launch_date": "2026-01-05",
                "phases-TOTAL_FORMS": "not a number",
                "phases-INITIAL_FORMS": "0",
            },
            id="programme create",
        ),
        pytest.param(
            lambda w: reverse("rehabilitation:programme_phases", args=[w.programme.pk]),
            lambda w: {"phases-0-name": "Orientasi", "phases-0-planned_weeks": "2"},
            id="programme phases",
        ),
    ],
)
def test_damaged_phase_formset_is_a_form_error(shared_world, world_media, url, data):
    """A phase formset without a readable management form is a form error (it was an
    AttributeError: BasePhaseFormSet.clean() read ordered_forms of an invalid formset)."""
    assert _post(shared_world, "editor", url(shared_world), data(shared_world)) == 200


def test_undeliverable_email_domain_is_a_form_error(shared_world, world_media):
    """An e-mail address whose domain Django's validator accepts but IDNA cannot encode (what
    an invalid UTF-8 byte in the form becomes) is refused on the form (sending the new
    account's e-mail raised UnicodeEncodeError, a 500)."""
    url = reverse("institutions:staff_create", args=[shared_world.own.pk])
    data = {
        "username": "staf.baru",
        "full_name": "Staf Baru",
        "email": "staf@contoh\ufffd.go.id",
        "roles": ["viewer"],
    }
    assert _post(shared_world, "admin", url, data) == 200


def test_two_factor_next_that_is_a_word_is_a_redirect(shared_world, world_media):
    """After a right code, a `next` that is a bare word is followed as a relative URL (it was
    taken by redirect() for a URL pattern name: NoReverseMatch, a 500)."""
    client = Client()
    client.force_login(shared_world.users.editor)
    url = reverse("two_factor") + "?next=home"
    assert client.get(url).status_code == 200  # makes the enrolment device
    response = client.post(url, {"otp_token": _current_code(shared_world.users.editor)})
    assert response.status_code == 302
    assert response["Location"] == "home"


def test_login_code_next_that_is_a_word_is_a_redirect(shared_world, world_media):
    """The same for the `next` of the login page, kept with the pending login until the code."""
    user = shared_world.users.editor
    TOTPDevice.objects.create(user=user, name="matrix", confirmed=True)
    client = Client()
    first = client.post(
        reverse("login") + "?next=home",
        {"username": user.username, "password": factories.PASSWORD},
    )
    assert first["Location"] == reverse("login_code")
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    second = client.post(reverse("login_code"), {"otp_token": f"{totp.token():06d}"})
    assert second.status_code == 302
    assert second["Location"] == "home"
    assert client.session["_auth_user_id"] == str(user.pk)
