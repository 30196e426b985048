"""`manage.py seed_scale`: the bulk data holds the invariants the services keep, is the same for
the same seed, writes the accounts the benchmark uses, and refuses what it should."""

import datetime
import hashlib
import itertools
import json
from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone

from agreements.models import Agreement, IssuedDocument, Party, StatusChange
from agreements.services import issuing
from config.scale import SCALE_PASSWORD, planned_counts, seed_scale
from institutions.models import Institution, Membership
from rehabilitation.assist import risk_band
from rehabilitation.models import (
    AccessLog,
    Attendance,
    Enrolment,
    EnrolmentEvent,
    EnrolmentPhase,
    Participant,
    Phase,
    Programme,
    Screening,
    ScreeningScore,
)
from tests import factories

pytestmark = pytest.mark.django_db

Status = Enrolment.Status
SCALE = "0.001"


def _seed(tmp_path, *args: str) -> tuple[dict, str, str]:
    out, err = StringIO(), StringIO()
    accounts = tmp_path / "accounts.json"
    call_command(
        "seed_scale", "--scale", SCALE, "--accounts-file", str(accounts), *args,
        stdout=out, stderr=err,
    )  # fmt: skip
    return json.loads(accounts.read_text()), out.getvalue(), err.getvalue()


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    return settings


@pytest.fixture
def seeded(debug, tmp_path):
    return _seed(tmp_path)


def test_counts_follow_the_scale():
    national = planned_counts(1.0)
    assert national["enrolments"] == 1_000_000 and national["participants"] == 300_000
    assert planned_counts(0.1)["agreements"] == 2_000
    tiny = planned_counts(0.001)
    assert tiny["provinces"] >= 2 and tiny["programmes"] >= 3
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            planned_counts(bad)


def test_accounts_file_and_roles(seeded):
    accounts, out, err = seeded
    assert accounts["password"] == SCALE_PASSWORD and accounts["scale"] == 0.001
    assert accounts["seed"] == 1
    users = get_user_model().objects
    assert users.get(username=accounts["superuser"]).is_superuser
    busy = users.get(username=accounts["busy_staff"])
    partner = users.get(username=accounts["partner_staff"])
    assert busy.check_password(SCALE_PASSWORD) and partner.check_password(SCALE_PASSWORD)
    busy_unit = Institution.objects.get(pk=accounts["busy_institution_id"])
    partner_unit = Institution.objects.get(pk=accounts["partner_institution_id"])
    assert set(busy.memberships.values_list("institution_id", "role")) == {
        (busy_unit.pk, Membership.Role.EDITOR),
        (busy_unit.pk, Membership.Role.PROGRAMME),
    }
    assert (partner_unit.pk, Membership.Role.EDITOR) in set(
        partner.memberships.values_list("institution_id", "role")
    )
    assert partner_unit.kind == Institution.Kind.BNNK
    assert Programme.objects.filter(host=busy_unit, partners=partner_unit).exists()
    # The busiest unit holds more participants than any other (the skew).
    held = Counter(Participant.objects.values_list("institution_id", flat=True))
    assert held.most_common(1)[0][0] == busy_unit.pk
    assert accounts["busy_staff"] in out and SCALE_PASSWORD in out
    assert "participants, enrolments" in err and "100%" in err
    # Written to a file: one finished bar per stage, each on its own line.
    stages = [line for line in err.splitlines() if "[" in line]
    assert all(line.count("[") == 1 and line.endswith(" s") for line in stages), err
    assert len(stages) >= 8


def test_sampled_rows_pass_full_clean(seeded):
    for model in (Institution, Agreement, Party, Programme, Participant, Enrolment, Phase):
        for obj in model.objects.order_by("pk")[:20]:
            obj.full_clean()


def test_agreements_follow_their_lifecycle(seeded):
    path = ["draft", "discussion", "ready", "signed", "terminated"]
    changes = defaultdict(list)
    for change in StatusChange.objects.order_by("agreement", "changed_at", "pk"):
        changes[change.agreement_id].append(change)
    agreements = list(Agreement.objects.select_related("signing_event"))
    assert {a.status for a in agreements} >= {"draft", "discussion", "signed"}
    for agreement in agreements:
        moves = changes[agreement.pk]
        assert (moves[0].from_status, moves[0].to_status) == ("draft", "draft")
        steps = [m.to_status for m in moves[1:]]
        assert steps == path[1 : path.index(agreement.status) + 1], agreement.pk
        assert all(a.changed_at <= b.changed_at for a, b in itertools.pairwise(moves))
        if agreement.is_signed:
            assert agreement.signing_event.date == agreement.signed_on
            assert agreement.end_date >= agreement.effective_date == agreement.signed_on
            assert agreement.signed_on <= timezone.localdate()
            assert not agreement.parties.filter(Q(frozen_at__isnull=True) | Q(number="")).exists()
            assert agreement.issued_document.size > 0
        else:
            assert not IssuedDocument.objects.filter(agreement=agreement).exists()
    numbers = Party.objects.exclude(number="").values_list("institution", "number")
    assert len(numbers) == len(set(numbers))


def test_enrolments_hold_the_service_invariants(seeded):
    today = timezone.localdate()
    events = defaultdict(list)
    for event in EnrolmentEvent.objects.order_by("enrolment", "recorded_at", "pk"):
        events[event.enrolment_id].append(event)
    phases = defaultdict(list)
    for phase in EnrolmentPhase.objects.select_related("phase").order_by("enrolment", "start_date"):
        phases[phase.enrolment_id].append(phase)
    intake = {s.enrolment_id: s for s in Screening.objects.order_by("-date")}
    enrolments = list(Enrolment.objects.select_related("programme", "participant", "current_phase"))
    assert {e.status for e in enrolments} >= {Status.COMPLETED, Status.IN_PHASE, Status.REFERRED}
    for enrolment in enrolments:
        chain = events[enrolment.pk]
        assert chain[0].from_status == "" and chain[0].to_status == Status.SCREENED
        assert chain[0].date == enrolment.start_date
        assert all(a.to_status == b.from_status for a, b in itertools.pairwise(chain))
        assert chain[-1].to_status == enrolment.status
        assert all(a.date <= b.date for a, b in itertools.pairwise(chain))
        assert chain[-1].date <= today
        assert intake[enrolment.pk].date >= enrolment.start_date
        programme = enrolment.programme
        assert enrolment.participant.institution_id in programme.institution_ids
        assert programme.launch_date <= enrolment.start_date
        went = phases[enrolment.pk]
        assert [p.phase.order for p in went] == list(range(1, len(went) + 1))
        assert all(a.end_date == b.start_date for a, b in itertools.pairwise(went))
        in_phase = [e for e in chain if e.to_status == Status.IN_PHASE]
        assert [e.date for e in in_phase] == [p.start_date for p in went]
        if enrolment.status == Status.IN_PHASE:
            assert went[-1].end_date is None and enrolment.current_phase == went[-1].phase
        else:
            assert enrolment.current_phase is None and all(p.end_date for p in went)
        if enrolment.is_final:
            assert enrolment.end_date == chain[-1].date
        if enrolment.status == Status.COMPLETED:
            assert went[-1].phase.order == programme.phases.count()
            assert None not in (enrolment.recovered, enrolment.skilled, enrolment.independent)
        if enrolment.status in (Status.ASSESSED, *Enrolment.ACTIVE_STATUSES):
            assert enrolment.assessments.exists()
    # One active enrolment per participant and programme type; capacity respected.
    active = Enrolment.objects.filter(status__in=Enrolment.ACTIVE_STATUSES)
    assert (
        not active.values("participant", "programme__kind").annotate(n=Count("pk")).filter(n__gt=1)
    )
    for programme in Programme.objects.filter(capacity__isnull=False):
        assert active.filter(programme=programme).count() <= programme.capacity
    # Risk bands follow the one rule; attendance only for enrolments active that day.
    for score in ScreeningScore.objects.all()[:200]:
        assert score.risk == risk_band(score.substance, score.score)
    for mark in Attendance.objects.select_related("session", "enrolment")[:300]:
        day, enrolment = mark.session.date, mark.enrolment
        assert enrolment.enrolled_on <= day <= (enrolment.end_date or today)
    # The access log names the institution holding the participant.
    assert not AccessLog.objects.exclude(institution_id=F("participant__institution_id")).exists()
    assert AccessLog.objects.count() == Participant.objects.count() + len(enrolments)


def test_pages_verification_and_issued_pdf(seeded, client):
    accounts = seeded[0]
    busy = get_user_model().objects.get(username=accounts["busy_staff"])
    client.force_login(busy)
    for name in ("staff:home", "rehabilitation:participants", "rehabilitation:enrolments"):
        response = client.get(reverse(name))
        assert response.status_code == 200, name
    participant = Participant.objects.filter(institution_id=accounts["busy_institution_id"])[0]
    page = client.get(reverse("rehabilitation:participant", args=[participant.pk]))
    assert page.status_code == 200 and participant.full_name in page.content.decode()
    client.logout()
    # Rows pointing at a shared file: the hash the verification page shows is the file's.
    documents = list(IssuedDocument.objects.order_by("pk"))
    assert len({d.file.name for d in documents}) < len(documents)
    for document in (documents[0], documents[-1]):
        data = issuing.read_issued(document)
        assert hashlib.sha256(data).hexdigest() == document.sha256 and len(data) == document.size
        assert data.startswith(b"%PDF")
        verify = client.get(reverse("public:verify", args=[document.verification_code]))
        assert verify.status_code == 200 and document.sha256 in verify.content.decode()
        pdf = client.get(reverse("public:agreement_pdf", args=[document.agreement_id]))
        assert pdf.status_code == 200
        assert hashlib.sha256(pdf.content).hexdigest() == document.sha256


def _picture() -> dict:
    return {
        "institutions": list(Institution.objects.order_by("pk").values_list("pk", "name")),
        "participants": list(
            Participant.objects.order_by("pk").values_list("pk", "full_name", "institution")
        ),
        "enrolments": list(
            Enrolment.objects.order_by("pk").values_list("pk", "status", "start_date")
        ),
        "codes": list(IssuedDocument.objects.order_by("pk").values_list("verification_code")),
        "events": EnrolmentEvent.objects.count(),
        "users": list(get_user_model().objects.order_by("pk").values_list("username")),
    }


def test_same_seed_same_data_other_seed_other_data(debug):
    today = datetime.date(2026, 6, 1)
    seed_scale(scale=0.001, seed=7, today=today, issued_files=1)
    first = _picture()
    seed_scale(scale=0.001, seed=7, today=today, replace=True, issued_files=1)
    assert _picture() == first
    seed_scale(scale=0.001, seed=8, today=today, replace=True, issued_files=1)
    other = _picture()
    assert other["participants"] != first["participants"]


def test_refuses_a_database_with_data_unless_asked(debug, tmp_path):
    factories.institution()
    with pytest.raises(CommandError, match="already holds"):
        _seed(tmp_path)
    assert Institution.objects.count() == 1
    accounts, _out, _err = _seed(tmp_path, "--append")
    assert Institution.objects.count() > 1
    assert get_user_model().objects.filter(username=accounts["busy_staff"]).exists()


def test_refuses_known_password_accounts_without_debug(settings, tmp_path):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="published password"):
        _seed(tmp_path)
    assert not Institution.objects.exists()


def test_refuses_a_scale_that_is_not_positive(debug, tmp_path):
    for bad in ("0", "-0.5", "nan", "many"):
        with pytest.raises(CommandError):
            call_command("seed_scale", "--scale", bad, stdout=StringIO(), stderr=StringIO())
    assert not Institution.objects.exists()
