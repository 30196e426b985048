"""Password-reset requests are throttled per address asked for and per client address, so the
form cannot bomb a mailbox; over the limit the answer is the same, only no mail leaves."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()
    yield
    cache.clear()


def _ask(browser: Client, email: str, address: str = "10.1.1.1", **extra):
    return browser.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=address, **extra)


def test_ten_requests_for_one_address_send_at_most_the_limit(settings):
    settings.PASSWORD_RESET_LIMIT_PER_ADDRESS = 3
    factories.user("staf.korban", email="korban@example.go.id")
    answers = []
    for attempt in range(10):
        # From ten different clients: the address's own limit holds.
        answers.append(_ask(Client(), "Korban@Example.go.id", address=f"10.2.0.{attempt}"))
    assert len(mail.outbox) == 3
    assert {(answer.status_code, answer["Location"]) for answer in answers} == {
        (302, reverse("password_reset_done"))
    }


def test_the_limit_holds_in_the_production_cache_a_database_table(settings):
    # Production's default cache is a table every worker and server shares (CACHE_URL unset),
    # made by `createcachetable` as `make run` and `make serve` do.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }
    call_command("createcachetable", verbosity=0)
    settings.PASSWORD_RESET_LIMIT_PER_ADDRESS = 2
    factories.user("staf.tabel", email="tabel@example.go.id")
    for attempt in range(5):
        _ask(Client(), "tabel@example.go.id", address=f"10.3.0.{attempt}")
    assert len(mail.outbox) == 2


def test_one_client_is_limited_across_addresses(settings):
    settings.PASSWORD_RESET_LIMIT_PER_CLIENT = 10
    for index in range(12):
        factories.user(f"staf.{index}", email=f"staf{index}@example.go.id")
    browser = Client()
    answers = [_ask(browser, f"staf{index}@example.go.id") for index in range(12)]
    assert len(mail.outbox) == 10
    assert len({(a.status_code, a["Location"]) for a in answers}) == 1
    # Another client is not held back by that one.
    _ask(Client(), "staf11@example.go.id", address="10.9.9.9")
    assert len(mail.outbox) == 11


def test_the_page_over_the_limit_is_the_same_page(settings):
    settings.PASSWORD_RESET_LIMIT_PER_ADDRESS = 1
    factories.user("staf.satu", email="satu@example.go.id")
    browser = Client()
    first = _ask(browser, "satu@example.go.id", follow=True)
    second = _ask(browser, "satu@example.go.id", follow=True)
    assert len(mail.outbox) == 1
    assert first.redirect_chain == second.redirect_chain
    assert _without_tokens(first.content) == _without_tokens(second.content)


def _without_tokens(page: bytes) -> bytes:
    """The page without its CSRF tokens, which are masked differently on every answer."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", page)


def test_the_client_address_follows_the_trusted_proxies(settings):
    """Behind one proxy, a client cannot escape the limit by forging X-Forwarded-For, and two
    clients behind the proxy are counted apart."""
    settings.TRUSTED_PROXY_COUNT = 1
    settings.PASSWORD_RESET_LIMIT_PER_CLIENT = 2
    for index in range(5):
        factories.user(f"staf.p{index}", email=f"p{index}@example.go.id")
    for index in range(4):
        _ask(
            Client(),
            f"p{index}@example.go.id",
            address="10.0.0.254",  # the proxy
            HTTP_X_FORWARDED_FOR=f"1.2.3.{index}, 203.0.113.7",
        )
    assert len(mail.outbox) == 2
    _ask(
        Client(),
        "p4@example.go.id",
        address="10.0.0.254",
        HTTP_X_FORWARDED_FOR="203.0.113.8",
    )
    assert len(mail.outbox) == 3


def test_the_limits_are_settings():
    from django.conf import settings

    assert settings.PASSWORD_RESET_LIMIT_PER_ADDRESS == 3
    assert settings.PASSWORD_RESET_LIMIT_PER_CLIENT == 10
    assert settings.PASSWORD_RESET_WINDOW_MINUTES == 60
