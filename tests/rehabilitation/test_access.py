"""`rehabilitation/access.py`: the one place of the app that answers who may see and change
what; the lookups for a page (404 for outsiders, the record with whether it may be changed);
and no other module of the app reads `institution_ids()` itself."""

from __future__ import annotations

import ast
import pathlib

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from rehabilitation import access
from tests.rehabilitation.test_enrolment_services import make_world, new_participant, screened

pytestmark = pytest.mark.django_db

APP = pathlib.Path(access.__file__).parent


@pytest.fixture
def world():
    made = make_world()
    made["held"] = new_participant(made, register_number="PKL-001", full_name="Peserta Satu")
    made["enrolment"] = screened(made, made["held"])
    return made


def _reads_institution_ids(path: pathlib.Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "institution_ids":
            # `programme.institution_ids` is the model's own property, not the access rule.
            base = node.value
            if isinstance(base, ast.Name) and base.id == "access":
                return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "institutions.access"
            and any(alias.name == "institution_ids" for alias in node.names)
        ):
            return True
    return False


def test_only_access_py_reads_institution_ids():
    offenders = [
        str(path.relative_to(APP.parent))
        for path in sorted(APP.rglob("*.py"))
        if path.name != "access.py" or path.parent != APP
        if _reads_institution_ids(path)
    ]
    assert offenders == []


def test_the_models_have_no_visibility_querysets_of_their_own():
    from rehabilitation.models import Enrolment, Participant, Programme

    for model in (Programme, Participant, Enrolment):
        assert not hasattr(model.objects, "visible_to")


@pytest.mark.parametrize(
    ("who", "may_write"),
    [("editor", True), ("staff", False), ("viewer", False), ("partner_staff", False)],
)
def test_a_programme_is_returned_with_whether_the_user_may_change_it(world, who, may_write):
    programme, writable = access.get_programme_for_user(world[who], world["programme"].pk)
    assert programme == world["programme"]
    assert writable is may_write


def test_a_programme_of_another_institution_is_404_and_managing_it_403(world):
    with pytest.raises(Http404):
        access.get_programme_for_user(world["outsider"], world["programme"].pk)
    with pytest.raises(PermissionDenied):
        access.get_programme_for_user(world["viewer"], world["programme"].pk, manage=True)


@pytest.mark.parametrize("who", ["outsider", "editor", "viewer"])
def test_outsiders_and_roles_without_personal_data_get_404_for_people(world, who):
    with pytest.raises(Http404):
        access.get_participant_for_user(world[who], world["held"].pk)
    with pytest.raises(Http404):
        access.get_enrolment_for_user(world[who], world["enrolment"].pk)
    with pytest.raises(Http404):
        access.get_enrolment_for_recording(world[who], world["enrolment"].pk)


@pytest.mark.parametrize("who", ["staff", "partner_staff", "superuser"])
def test_programme_staff_get_the_enrolment_and_may_move_it(world, who):
    enrolment, may_write = access.get_enrolment_for_user(
        world[who], world["enrolment"].pk, write=True
    )
    assert enrolment == world["enrolment"] and may_write is True
    participant, may_write = access.get_participant_for_user(world[who], world["held"].pk)
    assert participant == world["held"] and may_write is True


def test_personal_data_rule_for_a_programme_an_institution_and_anywhere(world):
    programme = world["programme"]
    assert access.may_see_personal_data(world["staff"], programme)
    assert access.may_see_personal_data(world["partner_staff"], programme)
    assert not access.may_see_personal_data(world["outsider"], programme)
    assert access.may_see_personal_data(world["outsider"])  # programme staff elsewhere
    assert not access.may_see_personal_data(world["editor"])
    assert not access.may_see_personal_data(world["viewer"], world["host"])
    assert access.may_see_personal_data(world["staff"], world["host"])
    assert access.may_see_personal_data(world["superuser"], programme)


def test_the_visible_sets_follow_the_roles(world):
    assert list(access.visible_participants(world["staff"])) == [world["held"]]
    assert list(access.visible_enrolments(world["partner_staff"])) == [world["enrolment"]]
    assert not access.visible_participants(world["viewer"]).exists()
    assert not access.visible_enrolments(world["outsider"]).exists()
    assert list(access.visible_programmes(world["viewer"])) == [world["programme"]]
    assert not access.visible_programmes(world["outsider"]).exists()
