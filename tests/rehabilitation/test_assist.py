"""The one ASSIST rule: every band boundary, the refusals, eligibility and the highest band."""

import pytest

from rehabilitation.assist import (
    MAX_SCORE,
    MIN_SCORE,
    Risk,
    Substance,
    highest,
    is_eligible,
    risk_band,
)

OTHER_SUBSTANCES = [substance for substance in Substance if substance != Substance.ALCOHOL]


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (0, Risk.LOW),
        (10, Risk.LOW),
        (11, Risk.MODERATE),
        (26, Risk.MODERATE),
        (27, Risk.HIGH),
        (39, Risk.HIGH),
    ],
)
def test_alcohol_bands(score, band):
    assert risk_band(Substance.ALCOHOL, score) == band


@pytest.mark.parametrize("substance", OTHER_SUBSTANCES)
@pytest.mark.parametrize(
    ("score", "band"),
    [
        (0, Risk.LOW),
        (3, Risk.LOW),
        (4, Risk.MODERATE),
        (26, Risk.MODERATE),
        (27, Risk.HIGH),
        (39, Risk.HIGH),
    ],
)
def test_tobacco_and_every_other_substance_bands(substance, score, band):
    assert risk_band(substance, score) == band


def test_every_score_of_the_range_has_a_band_and_bands_only_rise():
    order = [Risk.LOW, Risk.MODERATE, Risk.HIGH]
    for substance in Substance:
        bands = [risk_band(substance, score) for score in range(MIN_SCORE, MAX_SCORE + 1)]
        assert [order.index(band) for band in bands] == sorted(order.index(b) for b in bands)


def test_the_codes_are_accepted_as_plain_strings():
    assert risk_band("alcohol", 11) == Risk.MODERATE
    assert risk_band("stimulants", 4) == Risk.MODERATE


@pytest.mark.parametrize("substance", list(Substance))
@pytest.mark.parametrize("score", [-1, 40, 100])
def test_scores_outside_0_to_39_are_refused(substance, score):
    with pytest.raises(ValueError, match="0 to 39"):
        risk_band(substance, score)


@pytest.mark.parametrize("substance", ["heroin", "", "ALCOHOL", "kava"])
def test_unknown_substances_are_refused(substance):
    with pytest.raises(ValueError, match="unknown ASSIST substance"):
        risk_band(substance, 5)


@pytest.mark.parametrize(
    ("bands", "eligible"),
    [
        ([], False),
        ([Risk.LOW], False),
        ([Risk.LOW, Risk.LOW, Risk.LOW], False),
        ([Risk.MODERATE], True),
        ([Risk.HIGH], True),
        ([Risk.LOW, Risk.MODERATE], True),
        ([Risk.LOW, Risk.HIGH, Risk.LOW], True),
    ],
)
def test_eligibility_is_moderate_or_high_on_some_substance(bands, eligible):
    assert is_eligible(bands) is eligible


@pytest.mark.parametrize(
    ("bands", "top"),
    [
        ([], None),
        ([Risk.LOW], Risk.LOW),
        ([Risk.LOW, Risk.MODERATE, Risk.LOW], Risk.MODERATE),
        ([Risk.HIGH, Risk.MODERATE], Risk.HIGH),
        ([Risk.MODERATE, Risk.LOW, Risk.HIGH], Risk.HIGH),
    ],
)
def test_highest_band(bands, top):
    assert highest(bands) == top


def test_eligibility_follows_the_scores_of_a_mixed_screening():
    scores = {Substance.ALCOHOL: 10, Substance.TOBACCO: 3, Substance.CANNABIS: 4}
    bands = [risk_band(substance, score) for substance, score in scores.items()]
    assert bands == [Risk.LOW, Risk.LOW, Risk.MODERATE]
    assert is_eligible(bands)
    assert highest(bands) == Risk.MODERATE
    assert not is_eligible([risk_band(Substance.ALCOHOL, 10), risk_band(Substance.TOBACCO, 3)])
