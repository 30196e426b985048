"""Rules of the code's shape that a reviewer would otherwise have to remember.

Access: `institutions.access.institution_ids()` is the primitive every rule is built from, and
only the access modules (`agreements/access.py`, `rehabilitation/access.py`, and
`institutions/access.py` itself) may use it. A view, form, admin, export or service that calls it
restates a rule of its own, and that is where a forgotten filter leaks another institution's
records.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("agreements", "rehabilitation", "institutions", "config")
PRIMITIVE = "institution_ids"


def _modules() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.relative_to(ROOT).parts
    )


def uses_of_the_primitive(source: str) -> list[int]:
    """Line numbers where `source` imports `institution_ids` or calls it (by name or as an
    attribute, e.g. `access.institution_ids(user)`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and any(
            alias.name == PRIMITIVE for alias in node.names
        ):
            found.append(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == PRIMITIVE:
                found.append(node.lineno)
    return found


def _is_access_module(relative: str) -> bool:
    return relative.endswith("/access.py")


def test_the_checker_sees_calls_and_imports():
    assert uses_of_the_primitive("from institutions.access import institution_ids\n") == [1]
    assert uses_of_the_primitive("x = access.institution_ids(user, roles)\n") == [1]
    assert uses_of_the_primitive("x = institution_ids(user)\n") == [1]
    # A model's property of the same name, or a parameter, is not the primitive.
    assert uses_of_the_primitive("ids = programme.institution_ids & other\n") == []
    assert uses_of_the_primitive("def f(institution_ids):\n    return institution_ids\n") == []


def test_only_access_modules_use_institution_ids():
    offenders = {}
    for path in _modules():
        relative = path.relative_to(ROOT).as_posix()
        if _is_access_module(relative):
            continue
        lines = uses_of_the_primitive(path.read_text(encoding="utf-8"))
        if lines:
            offenders[relative] = lines
    assert not offenders, (
        "These modules use institutions.access.institution_ids() directly; ask the app's "
        f"access module instead: {offenders}"
    )
