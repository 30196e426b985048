import contextlib
import datetime
import io
import shutil
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from tests import factories


def pytest_unconfigure(config):
    """Remove this process's own folder of files (`config.test_settings.TEST_FILES`): the
    pytest-xdist workers end without running `atexit`."""
    from config import test_settings

    shutil.rmtree(test_settings.TEST_FILES, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Every test writes files to its own temporary media root."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Every test starts with an empty cache (it holds the password-reset counts)."""
    from django.core.cache import cache

    cache.clear()


# --- One of everything: the world of the permission matrix and the form fuzzing ------------


def small_pdf(pages: int = 1) -> bytes:
    """A valid, unencrypted PDF of blank pages, made with pypdf."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class World(SimpleNamespace):
    """The records of `build_world`, by name; shown briefly in test reports."""

    def __repr__(self) -> str:
        return "<World of tests/conftest.py>"


def build_world() -> World:
    """Two institutions' worth of records, one of each kind, made through the services.

    `own` is the institution whose staff are the actors of the matrix (viewer, editor,
    administrator, programme staff); `partner` is the other party of its agreements and a
    partner of its programme; `other` is an unrelated institution with its own agreement,
    whose administrator and programme staff make the cross-institution attempts.
    """
    from agreements.models import Agreement, CalendarFeed, Party
    from agreements.services import documents, issuing
    from agreements.services import meetings as meeting_services
    from institutions.models import Membership
    from rehabilitation.services import enrolment as enrolment_services
    from rehabilitation.services import programmes as programme_services
    from rehabilitation.services import screening as screening_services
    from rehabilitation.services import sessions as session_services

    Role = Membership.Role
    today = timezone.localdate()
    days = datetime.timedelta

    own = factories.institution(
        "Rumah Tahanan Negara Kelas IIA Matriks", short_name="Rutan Matriks"
    )
    partner = factories.institution(
        "Badan Narkotika Nasional Kabupaten Matriks", kind="bnnk", short_name="BNNK Matriks"
    )
    other = factories.institution(
        "Lembaga Pemasyarakatan Kelas I Lain", kind="lapas", short_name="Lapas Lain"
    )
    other_partner = factories.institution(
        "Badan Narkotika Nasional Kabupaten Lain", kind="bnnk", short_name="BNNK Lain"
    )
    # Where participants of `own` may be transferred to.
    transfer_target = factories.institution(
        "Rumah Tahanan Negara Kelas IIB Tujuan", short_name="Rutan Tujuan"
    )

    users = SimpleNamespace(
        superuser=get_user_model().objects.create_superuser(
            "matrix.root", "root@matrix.example", factories.PASSWORD
        ),
        viewer=factories.user("matrix.viewer", own, (Role.VIEWER,), email="v@matrix.example"),
        editor=factories.user("matrix.editor", own, (Role.EDITOR,), email="e@matrix.example"),
        admin=factories.user("matrix.admin", own, (Role.ADMIN,), email="a@matrix.example"),
        programme=factories.user(
            "matrix.programme", own, (Role.PROGRAMME,), email="p@matrix.example"
        ),
        other_admin=factories.user(
            "matrix.other.admin", other, (Role.ADMIN,), email="oa@matrix.example"
        ),
        other_programme=factories.user(
            "matrix.other.programme", other, (Role.PROGRAMME,), email="op@matrix.example"
        ),
        nobody=factories.user("matrix.nobody", email="n@matrix.example"),
    )
    editor, staff = users.editor, users.programme

    draft = factories.agreement(own, partner, title="PKS Rancangan Matriks")
    ready = factories.agreement(
        own, partner, status=Agreement.Status.READY, title="PKS Siap Ditandatangani"
    )
    signed = factories.agreement(
        own,
        partner,
        status=Agreement.Status.SIGNED,
        title="PKS Rehabilitasi Matriks",
        signing_venue="Aula Rutan",
        signing_host=own,
        signing_time=datetime.time(9),
    )
    factories.agreement(other, other_partner, status=Agreement.Status.SIGNED, title="PKS Lain")
    event = signed.signing_event
    signatory = factories.person("Penandatangan Matriks")
    # Ready for signing: every party names its signatory.
    Party.objects.filter(agreement=ready).update(signatory=signatory, signatory_position="Kepala")
    issued = issuing.issued_document_for(signed)
    scan = documents.scan_upload(
        agreement=signed,
        user=editor,
        upload=SimpleUploadedFile("scan.pdf", small_pdf(), content_type="application/pdf"),
    )
    # The viewer's own feed of `own` (any role may have one).
    feed = CalendarFeed.objects.create(user=users.viewer, institution=own)

    meeting = meeting_services.meeting_schedule(
        agreement=draft,
        user=editor,
        date=today - days(7),
        start_time=datetime.time(9),
        end_time=datetime.time(11),
        venue="Ruang Rapat Rutan",
        host=own,
        agenda="Pembahasan naskah",
    )
    # Hosted by an institution that is not a party (access.py: its staff see the meeting).
    hosted_elsewhere = meeting_services.meeting_schedule(
        agreement=draft,
        user=editor,
        date=today - days(5),
        start_time=datetime.time(13),
        end_time=None,
        venue="Aula Lapas Lain",
        host=other,
    )
    attendee = meeting_services.attendee_add(
        meeting=meeting, user=editor, institution=own, new_full_name="Peserta Rapat Matriks"
    )
    follow_up = meeting_services.follow_up_create(
        meeting=meeting,
        user=editor,
        description="Menyiapkan naskah akhir",
        owner=own,
        due_date=today + days(7),
    )

    programme = programme_services.programme_create(
        user=editor,
        name="Rehabilitasi Sosial Matriks",
        kind="social",
        host=own,
        agreement=signed,
        launch_date=today - days(200),
        partners=[partner],
        phases=[
            {"id": None, "name": "Orientasi", "planned_weeks": 2},
            {"id": None, "name": "Primer", "planned_weeks": 19},
        ],
    )
    phases = list(programme.phases.order_by("order"))

    def screened(name: str, number: str, score: int = 30):
        person = factories.participant(own, full_name=name, register_number=number)
        return screening_services.enrolment_screen(
            user=staff,
            participant=person,
            programme=programme,
            date=today - days(100),
            scores={"stimulants": score},
        )

    def assessed(enrolment):
        enrolment_services.enrolment_assess(
            user=staff,
            enrolment=enrolment,
            date=today - days(95),
            team="dr. Sari\nPsikolog Andi",
            recommendation="social",
        )
        enrolment.refresh_from_db()
        return enrolment

    def in_phase(enrolment, phase_count: int = 1):
        enrolment_services.enrolment_enrol(user=staff, enrolment=enrolment, date=today - days(90))
        enrolment.refresh_from_db()
        for n in range(phase_count):
            enrolment_services.enrolment_next_phase(
                user=staff, enrolment=enrolment, date=today - days(90 - 10 * n)
            )
            enrolment.refresh_from_db()
        return enrolment

    enrolment = in_phase(assessed(screened("Peserta Matriks", "MTX-001")))
    enrolment_screened = screened("Peserta Tersaring", "MTX-002")
    enrolment_assessed = assessed(screened("Peserta Terasesmen", "MTX-003"))
    enrolment_last_phase = in_phase(
        assessed(screened("Peserta Fase Akhir", "MTX-004")), phase_count=2
    )
    participant = enrolment.participant
    unenrolled = factories.participant(
        own, full_name="Peserta Belum Tersaring", register_number="MTX-005"
    )
    other_participant = factories.participant(
        other, full_name="Peserta Lapas Lain", register_number="LAIN-001"
    )

    session = session_services.session_create(
        programme=programme,
        user=staff,
        date=today - days(30),
        topic="Morning meeting",
        phase=phases[0],
        facilitator="Konselor Matriks",
    )
    note = session_services.progress_note_add(
        enrolment=enrolment, user=staff, date=today - days(20), text="Mengikuti kegiatan."
    )
    score = session_services.instrument_score_add(
        enrolment=enrolment, user=staff, instrument="gses", date=today - days(20), score=25
    )

    return World(
        today=today,
        own=own,
        partner=partner,
        other=other,
        transfer_target=transfer_target,
        users=users,
        draft=draft,
        ready=ready,
        signed=signed,
        event=event,
        issued=issued,
        scan=scan,
        feed=feed,
        signatory=signatory,
        meeting=meeting,
        hosted_elsewhere=hosted_elsewhere,
        attendee=attendee,
        follow_up=follow_up,
        programme=programme,
        phases=phases,
        participant=participant,
        unenrolled=unenrolled,
        other_participant=other_participant,
        enrolment=enrolment,
        enrolment_screened=enrolment_screened,
        enrolment_assessed=enrolment_assessed,
        enrolment_last_phase=enrolment_last_phase,
        session=session,
        note=note,
        score=score,
    )


@contextlib.contextmanager
def kept_for_module(django_db_blocker) -> Iterator[None]:
    """Database rows made for a whole test module, in a transaction rolled back at its end.

    For a module-scoped fixture (it needs `django_db_setup` and `django_db_blocker`): each
    test still runs in its own savepoint (the `db` fixture), so what a test changes is
    undone before the next one. Not for modules with `transaction=True` tests. Each
    pytest-xdist worker has its own database, so each builds its own rows.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """`build_world()` once per test module (see `kept_for_module`).

    The world's files (issued PDF, signed scan) are kept in a media root of the module: use
    the `world_media` fixture in the module's tests, so that they find them.
    """
    media_root = tmp_path_factory.mktemp("world-media")
    with override_settings(MEDIA_ROOT=media_root), kept_for_module(django_db_blocker):
        world = build_world()
        world.media_root = media_root
        yield world


@pytest.fixture
def world_media(settings, shared_world):
    """Point MEDIA_ROOT at the shared world's files (after `_isolated_media` moved it)."""
    settings.MEDIA_ROOT = shared_world.media_root
    return shared_world.media_root


# --- Whether a request changed anything ------------------------------------------------------

#: Tables that change on every request of a logged-in user (the session) or on login attempts.
_UNWATCHED = frozenset({"sessions.session", "axes.accessattempt", "axes.accesslog"})


def fingerprint() -> dict[str, list[tuple]]:
    """Every row of every table of the project (a few hundred in the shared world), the users'
    last login time left out, to show that a refused request changed nothing."""
    rows = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in _UNWATCHED or model._meta.proxy or not model._meta.managed:
            continue
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "last_login"]
        rows[label] = list(model._default_manager.order_by("pk").values_list(*fields))
    return rows


def changed_tables(
    before: dict[str, list[tuple]],
    after: dict[str, list[tuple]],
    ignore: frozenset[str] = frozenset(),
) -> list[str]:
    """The tables whose rows differ between two fingerprints, except those in `ignore`."""
    return [label for label in before if label not in ignore and before[label] != after[label]]
