import pytest

from tests import factories


@pytest.mark.django_db
def test_factories_build_a_signed_agreement():
    a = factories.institution()
    b = factories.institution(kind="bnnk", name="BNNK Uji")
    agreement = factories.agreement(a, b, status="signed")
    assert [p.label for p in agreement.parties.all()] == ["PIHAK PERTAMA", "PIHAK KEDUA"]
