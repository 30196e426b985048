import pytest

from agreements.models import Article
from agreements.standard_articles import (
    STANDARD_ARTICLES,
    STANDARD_CONSIDERATIONS,
    STANDARD_LEGAL_BASIS,
    add_standard_articles,
    term_in_words,
)
from institutions.models import Institution
from tests import factories


def _agreement(**fields):
    rutan = factories.institution()
    bnnk = factories.institution(name="BNNK Uji", kind=Institution.Kind.BNNK)
    return factories.agreement(bnnk, rutan, articles=0, **fields)


def test_the_standard_set_has_the_usual_articles_in_order():
    headings = [article.heading for article in STANDARD_ARTICLES]
    assert headings[0] == "Maksud dan Tujuan"
    assert headings[-1] == "Penutup"
    assert "Keadaan Kahar" in headings
    assert "Penyelesaian Perselisihan" in headings
    assert len(set(headings)) == len(headings)
    disputes = STANDARD_ARTICLES[headings.index("Penyelesaian Perselisihan")]
    assert "musyawarah untuk mufakat" in disputes.body


def test_defaults_are_written_one_per_line():
    considerations = STANDARD_CONSIDERATIONS.splitlines()
    assert len(considerations) >= 3
    assert all(line.startswith("bahwa ") for line in considerations)
    legal_basis = STANDARD_LEGAL_BASIS.splitlines()
    assert "Undang-Undang Nomor 35 Tahun 2009 tentang Narkotika;" in legal_basis
    assert "Undang-Undang Nomor 22 Tahun 2022 tentang Pemasyarakatan;" in legal_basis
    assert any("Nomor 12 Tahun 2017" in line for line in legal_basis)


@pytest.mark.parametrize(
    ("months", "words"),
    [
        (24, "2 (dua) tahun"),
        (12, "1 (satu) tahun"),
        (18, "18 (delapan belas) bulan"),
        (None, "sebagaimana disepakati oleh PARA PIHAK"),
    ],
)
def test_term_in_words(months, words):
    assert term_in_words(months) == words


@pytest.mark.django_db
def test_articles_are_numbered_from_one_in_order():
    agreement = _agreement(term_months=24)

    made = add_standard_articles(agreement)

    stored = list(agreement.articles.order_by("number"))
    assert [a.number for a in stored] == list(range(1, len(STANDARD_ARTICLES) + 1))
    assert [a.heading for a in stored] == [a.heading for a in STANDARD_ARTICLES]
    assert [a.pk for a in made] == [a.pk for a in stored]
    term = agreement.articles.get(heading="Jangka Waktu")
    assert "jangka waktu 2 (dua) tahun terhitung sejak" in term.body
    assert "{" not in "".join(a.body for a in stored)


@pytest.mark.django_db
def test_a_second_call_is_refused_and_changes_nothing():
    agreement = _agreement()
    add_standard_articles(agreement)
    before = list(agreement.articles.values_list("pk", "number", "heading"))

    with pytest.raises(ValueError, match="already has articles"):
        add_standard_articles(agreement)

    assert list(agreement.articles.values_list("pk", "number", "heading")) == before


@pytest.mark.django_db
def test_an_agreement_with_its_own_articles_is_left_alone():
    rutan = factories.institution()
    agreement = factories.agreement(rutan, articles=1)

    with pytest.raises(ValueError):
        add_standard_articles(agreement)

    assert Article.objects.filter(agreement=agreement).count() == 1
