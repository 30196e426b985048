"""Every response carries the security headers: a strict Content Security Policy, HSTS, frame
denial, no MIME sniffing, referrer and opener policies; pages have no inline script or style,
and the Django admin still works under the policy."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from agreements.models import Agreement
from tests import factories

pytestmark = pytest.mark.django_db

EXPECTED_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CSP_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def csp(response) -> dict[str, str]:
    """The Content-Security-Policy header as {directive: sources}."""
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    return directives


#: Powerful browser features every page refuses (Permissions-Policy), at least these.
REFUSED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb")


def permissions_policy(response) -> dict[str, str]:
    """The Permissions-Policy header as {feature: allow list}."""
    features = {}
    for part in response.headers.get("Permissions-Policy", "").split(","):
        name, _, value = part.strip().partition("=")
        features[name] = value
    return features


def assert_security_headers(response) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, name
    policy = permissions_policy(response)
    for feature in REFUSED_FEATURES:
        assert policy.get(feature) == "()", feature
    assert csp(response) == CSP_DIRECTIVES
    assert "unsafe-inline" not in response["Content-Security-Policy"]


@pytest.fixture
def signed_agreement() -> Agreement:
    return factories.agreement(
        factories.institution(), factories.institution(), status=Agreement.Status.SIGNED
    )


def test_public_page(client, signed_agreement):
    for url in (
        reverse("public:registry"),
        reverse("public:agreement", args=[signed_agreement.pk]),
        reverse("login"),
        reverse("password_reset"),
    ):
        response = client.get(url, secure=True)
        assert response.status_code == 200, url
        assert_security_headers(response)


def test_staff_page(client):
    institution = factories.institution()
    client.force_login(factories.user(institution=institution))
    response = client.get(reverse("staff:home"), secure=True)
    assert response.status_code == 200
    assert list(response.context["institutions"]) == [institution]
    assert_security_headers(response)


def test_pdf_download(client, signed_agreement):
    response = client.get(reverse("public:agreement_pdf", args=[signed_agreement.pk]), secure=True)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body.startswith(b"%PDF-")
    assert_security_headers(response)


def test_error_pages_carry_the_headers_too(client):
    response = client.get("/pks/999999/", secure=True)
    assert response.status_code == 404
    assert_security_headers(response)


def test_plain_http_gets_no_hsts_and_production_redirects_it():
    # HSTS is only meaningful (and only sent) over HTTPS; the redirect to HTTPS is on in the
    # production settings (tests/test_deploy_check.py) and off for the test client.
    response = Client().get(reverse("public:registry"))
    assert "Strict-Transport-Security" not in response
    assert settings.SECURE_HSTS_SECONDS == 31536000


def test_cookies_are_secure_and_http_only(client):
    factories.user("staf.kue")
    client.get(reverse("login"), secure=True)
    response = client.post(
        reverse("login"),
        {"username": "staf.kue", "password": factories.PASSWORD},
        secure=True,
    )
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    csrf = client.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["secure"] is True
    language = client.post(
        reverse("set_language"), {"language": "en", "next": "/"}, secure=True
    ).cookies[settings.LANGUAGE_COOKIE_NAME]
    assert language["secure"] is True
    assert language["httponly"] is True


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
SCRIPT_OR_STYLE = re.compile(r"<(script|style|link)\b[^>]*>", re.IGNORECASE)
INLINE_ATTRIBUTE = re.compile(r"\s(style|on[a-z]+)\s*=", re.IGNORECASE)


def assert_no_inline_code(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert "<style" not in html.lower()
    assert not INLINE_ATTRIBUTE.search(html), INLINE_ATTRIBUTE.search(html)


def test_the_sites_pages_need_no_inline_code_and_get_no_nonce(client, signed_agreement):
    pages = [reverse("public:registry"), reverse("public:agreement", args=[signed_agreement.pk])]
    for url in [*pages, reverse("login"), reverse("password_reset")]:
        response = client.get(url)
        assert_no_inline_code(response.content.decode())
        assert "nonce-" not in response["Content-Security-Policy"]
    client.force_login(factories.user(institution=factories.institution()))
    for url in [reverse("staff:home"), reverse("password_change"), reverse("two_factor")]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_inline_code(response.content.decode())
        assert "nonce-" not in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/institutions/institution/",
        "/admin/agreements/agreement/",
        "/admin/agreements/agreement/add/",
        "/admin/auth/user/add/",
        "/admin/otp_totp/totpdevice/add/",
    ],
)
def test_admin_pages_work_under_the_policy(admin_client, url):
    """Every script and style tag of the admin is allowed by the header: from the site itself, or
    inline with the response's nonce; no inline event handlers or style attributes."""
    factories.institution()
    response = admin_client.get(url, secure=True)
    assert response.status_code == 200
    policy = csp(response)
    html = response.content.decode()
    # The admin's templates ask for the nonce (the CSP context processor gives it to them), so
    # any inline tag it writes (e.g. the changelist's <style> without actions) is allowed.
    nonce = re.search(r"'nonce-([^']+)'", policy["script-src"])
    assert nonce, policy
    assert f"'nonce-{nonce.group(1)}'" in policy["style-src"]
    assert f'nonce="{nonce.group(1)}"' in html
    for tag in SCRIPT_OR_STYLE.finditer(html):
        text = tag.group(0)
        source = re.search(r'\b(?:src|href)="([^"]*)"', text)
        if source:
            assert source.group(1).startswith("/"), text  # same origin
        else:
            assert f'nonce="{nonce.group(1)}"' in text, text
    assert not INLINE_ATTRIBUTE.search(html), INLINE_ATTRIBUTE.search(html)


def test_the_permissions_policy_refuses_every_feature_on_every_kind_of_answer(client):
    """The header is on pages, redirects, errors and the health check alike."""
    for url, status in (
        (reverse("public:registry"), 200),
        (reverse("staff:home"), 302),
        ("/pks/999999/", 404),
        (reverse("healthz"), 200),
    ):
        response = client.get(url, secure=True)
        assert response.status_code == status, url
        policy = permissions_policy(response)
        assert set(REFUSED_FEATURES) <= set(policy), url
        assert all(value == "()" for value in policy.values()), url


def test_with_the_https_redirect_on_the_health_checks_answer_plain_http(settings):
    # The load balancer asks over plain HTTP on the private network: a redirect would read as
    # "down". Every other page is still sent to HTTPS.
    settings.SECURE_SSL_REDIRECT = True
    plain = Client()
    assert plain.get(reverse("healthz")).status_code == 200
    assert plain.get(reverse("readyz")).status_code == 200
    response = plain.get(reverse("public:registry"))
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
