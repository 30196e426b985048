"""WHO ASSIST risk bands: the one place that turns a substance score into a risk and a next step.

Bands (WHO ASSIST v3.1): alcohol 0–10 low, 11–26 moderate, 27+ high; tobacco and every other
substance 0–3 low, 4–26 moderate, 27+ high. Scores run from 0 to 39. Low risk gets education
only; moderate or high risk is eligible for assessment and rehabilitation.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

MIN_SCORE = 0
MAX_SCORE = 39


class Substance(models.TextChoices):
    TOBACCO = "tobacco", _("Tobacco products")
    ALCOHOL = "alcohol", _("Alcoholic beverages")
    CANNABIS = "cannabis", _("Cannabis (ganja)")
    COCAINE = "cocaine", _("Cocaine")
    STIMULANTS = "stimulants", _("Amphetamine-type stimulants (e.g. shabu, ecstasy)")
    INHALANTS = "inhalants", _("Inhalants")
    SEDATIVES = "sedatives", _("Sedatives or sleeping pills")
    HALLUCINOGENS = "hallucinogens", _("Hallucinogens")
    OPIOIDS = "opioids", _("Opioids (e.g. heroin, morphine)")
    OTHER = "other", _("Other")


class Risk(models.TextChoices):
    LOW = "low", _("Low risk")
    MODERATE = "moderate", _("Moderate risk")
    HIGH = "high", _("High risk")


#: The highest score of the low band, per substance; every band's top is 26 for moderate.
_LOW_UP_TO: dict[str, int] = {Substance.ALCOHOL: 10}
_DEFAULT_LOW_UP_TO = 3
_MODERATE_UP_TO = 26


def risk_band(substance: str, score: int) -> Risk:
    """The ASSIST risk band of `score` for `substance`; a score outside 0–39 is an error."""
    if substance not in Substance.values:
        raise ValueError(f"unknown ASSIST substance {substance!r}")
    if not MIN_SCORE <= score <= MAX_SCORE:
        raise ValueError(f"ASSIST scores run from {MIN_SCORE} to {MAX_SCORE}, not {score}")
    if score <= _LOW_UP_TO.get(substance, _DEFAULT_LOW_UP_TO):
        return Risk.LOW
    if score <= _MODERATE_UP_TO:
        return Risk.MODERATE
    return Risk.HIGH


def is_eligible(bands: list[Risk]) -> bool:
    """Moderate or high risk on any substance makes a person eligible for assessment."""
    return any(band in (Risk.MODERATE, Risk.HIGH) for band in bands)


def highest(bands: list[Risk]) -> Risk | None:
    """The highest band among `bands`, or None when nothing was scored."""
    order = [Risk.LOW, Risk.MODERATE, Risk.HIGH]
    return max(bands, key=order.index) if bands else None
