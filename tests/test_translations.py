"""The Indonesian catalogue is complete, and the compiled .mo matches the .po."""

import ast
import gettext
from pathlib import Path

from django.conf import settings
from django.test import override_settings
from django.urls import reverse

PO = Path(settings.BASE_DIR) / "locale" / "id" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def read_po(path: Path) -> list[dict[str, str]]:
    """A minimal reader of the catalogue: msgctxt/msgid/msgid_plural/msgstr[n] and flags."""
    entries: list[dict[str, str]] = []
    entry: dict[str, str] = {}
    key = None
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if entry:
                entries.append(entry)
            entry, key = {}, None
        elif line.startswith("#,"):
            entry["flags"] = line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[key] += ast.literal_eval(line)
        else:
            key, _, value = line.partition(" ")
            entry[key] = ast.literal_eval(value)
    return entries


def test_every_message_is_translated_and_none_is_fuzzy():
    entries = [e for e in read_po(PO) if e.get("msgid")]
    assert entries
    untranslated = [
        e["msgid"] for e in entries if not any(v for k, v in e.items() if k.startswith("msgstr"))
    ]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e.get("flags", "")]
    assert untranslated == []
    assert fuzzy == []


def test_compiled_catalogue_matches_the_source():
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in read_po(PO):
        if not entry.get("msgid") or "msgid_plural" in entry:
            continue
        message = entry["msgid"]
        if "msgctxt" in entry:
            assert compiled.pgettext(entry["msgctxt"], message) == entry["msgstr"], message
        else:
            assert compiled.gettext(message) == entry["msgstr"], message


def test_pages_are_indonesian_even_for_an_english_browser(client, db):
    assert "Registri publik" in client.get(reverse("public:registry")).content.decode()
    response = client.get(reverse("public:registry"), headers={"accept-language": "en-US,en"})
    assert "Registri publik" in response.content.decode()
    assert response["Content-Language"] == "id"


def test_english_when_chosen(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(reverse("public:registry"))
    assert "Public registry" in response.content.decode()
    assert response["Content-Language"] == "en"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "xx"
    assert "Registri publik" in client.get(reverse("public:registry")).content.decode()


@override_settings(LANGUAGE_CODE="id")
def test_language_switch_sets_the_cookie(client, db):
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
