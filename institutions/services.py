"""Staff accounts and their roles at an institution, managed by its administrators.

Every function checks that `actor` is an administrator of the institution (or a superuser)
and runs in one transaction; changes of roles lock the institution's row first (so that two
administrators cannot each remove the other and leave the institution with none), and every
change is recorded: in the history (`institutions.history`) of the account and of its
memberships, and with the `logging` module at INFO, on the "institutions.services" logger,
naming who did what to whom.

When a user loses their last role at an institution, or the account is switched off, the
`access_ended` signal tells the apps above (which this app does not import) to end what that
access justified: the agreements app deletes the user's calendar feeds there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import access, history
from .models import History, Institution, Membership

logger = logging.getLogger(__name__)

Role = Membership.Role

#: The mailer (settings.MAILERS) that sends the password-set e-mails.
MAILER = "default"

EMAIL_TAKEN = gettext_lazy(
    "An account with this e-mail address already exists. Ask its owner for the username "
    "and add it under “Add an existing account”."
)


#: Sent, inside the transaction of the change, with `user` and `institution_ids`: the
#: institutions where `user` no longer holds any role, or None when the account was switched
#: off. Receivers end what that access justified (e.g. `agreements.services.calendar`).
access_ended = Signal()


def _access_ended(user: AbstractUser, institution_ids: Iterable[int] | None) -> None:
    ids = None if institution_ids is None else sorted(set(institution_ids))
    access_ended.send(sender=Membership, user=user, institution_ids=ids)


def account_deactivated(user: AbstractUser) -> None:
    """What ends with an account, whoever switched it off (`signals`): its sessions, and what
    its memberships justified (`access_ended`)."""
    sessions_end(user)
    _access_ended(user, None)


#: Account fields kept out of the history: the password hash, and logins (nobody's change).
_UNRECORDED_ACCOUNT_FIELDS = ("password", "last_login")


def _account_state(user: AbstractUser) -> dict:
    state = history.snapshot(user)
    for name in _UNRECORDED_ACCOUNT_FIELDS:
        state.pop(name, None)
    return state


def _ensure_admin(actor: AbstractUser, institution: Institution) -> None:
    if not access.has_role(actor, institution.pk, {Role.ADMIN}):
        raise PermissionDenied(_("Only an administrator of the institution manages its staff."))


def _lock(institution: Institution) -> None:
    # Serialises staff changes of one institution, so the last-administrator rule holds.
    Institution.objects.select_for_update().filter(pk=institution.pk).first()


def _ensure_another_admin(institution: Institution, user: AbstractUser) -> None:
    """Refuse a change that would leave the institution without an active administrator."""
    others = (
        Membership.objects.filter(institution=institution, role=Role.ADMIN, user__is_active=True)
        .exclude(user=user)
        .exists()
    )
    if not others:
        raise ValidationError(
            _(
                "%(user)s is the last administrator of %(institution)s. Make another member "
                "administrator first."
            ),
            code="last_admin",
            params={"user": user.get_username(), "institution": institution.display_name},
        )


def may_deactivate(
    *, actor: AbstractUser, user: AbstractUser, institution_ids: Iterable[int]
) -> bool:
    """Whether `actor` may switch `user` off, given the institutions `user` held roles at.

    Only an account the actor's institutions manage: every one of its memberships is at an
    institution the actor administers, and it is not an operator's account (superuser or
    `is_staff`), which no institution manages even after adding it as a member.
    """
    if user.is_superuser or user.is_staff:
        return False
    if access.is_superuser(actor):
        return True
    administered = access.scope_institution_ids(actor, access.ADMIN_ROLES) or frozenset()
    held = set(institution_ids)
    return bool(held) and held <= administered


def sessions_end(user: AbstractUser) -> int:
    """End every session of `user` (e.g. when the account is switched off), so that an old
    session cookie does not work again if the account is reactivated. Returns how many."""
    user_key = str(user.pk)
    ended = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(session.get_decoded().get("_auth_user_id")) == user_key
    ]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


def _deactivate_if_unattached(
    *, actor: AbstractUser, user: AbstractUser, held_at: Iterable[int]
) -> None:
    """An account left without any membership can do nothing: switch it off, if `actor` may
    (see `may_deactivate`; `held_at` are the institutions it held roles at before)."""
    if not user.is_active or user.memberships.exists():
        return
    if not may_deactivate(actor=actor, user=user, institution_ids=held_at):
        return
    before = _account_state(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    history.record(
        user, user=actor, action=History.Action.CHANGE, before=before, after=_account_state(user)
    )
    logger.info(
        "Staff: %s (id %s) set account %s (id %s) inactive: no membership left",
        actor.get_username(),
        actor.pk,
        user.get_username(),
        user.pk,
    )


def _held_at(user: AbstractUser) -> set[int]:
    return set(user.memberships.values_list("institution_id", flat=True))


def _clean_roles(roles: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(roles))
    unknown = [role for role in chosen if role not in Role.values]
    if unknown or not chosen:
        raise ValidationError(_("Choose at least one valid role."), code="invalid_role")
    return chosen


def password_set_link(user: AbstractUser) -> str:
    """The absolute link at which `user` chooses a password (Django's reset token: it stops
    working once the password is set, and after PASSWORD_RESET_TIMEOUT)."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{settings.SITE_URL}{path}"


def _send_password_email(*, user: AbstractUser, institution: Institution) -> None:
    context = {
        "user": user,
        "institution": institution,
        "link": password_set_link(user),
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        "site_url": settings.SITE_URL,
    }
    # The recipient has not chosen a language yet: the e-mail is in the site's language.
    with translation.override(settings.LANGUAGE_CODE):
        subject = " ".join(
            render_to_string("institutions/email/account_subject.txt", context).split()
        )
        body = render_to_string("institutions/email/account_body.txt", context)
    EmailMessage(subject=subject, body=body, to=[user.email]).send(using=MAILER)


@transaction.atomic
def staff_account_create(
    *,
    actor: AbstractUser,
    institution: Institution,
    username: str,
    full_name: str,
    email: str,
    roles: Iterable[str],
) -> AbstractUser:
    """Create a staff account with `roles` at `institution` and e-mail it a link to choose its
    password. The account has no usable password until then.

    Raises PermissionDenied unless `actor` administers the institution, and ValidationError for
    a taken username or e-mail address (in any letter case: one person has one account, with
    roles at several institutions), an invalid username or e-mail, or no valid role. If
    the e-mail cannot be sent, nothing is created.
    """
    _ensure_admin(actor, institution)
    _lock(institution)
    chosen = _clean_roles(roles)
    User = get_user_model()
    username = username.strip()
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(
            {"username": ValidationError(_("This username is taken. Choose another."), "unique")}
        )
    if not email.strip():
        raise ValidationError(
            {"email": ValidationError(_("The account needs an e-mail address."), "required")}
        )
    if User.objects.filter(email__iexact=email.strip()).exists():
        # One person, one account: roles at several institutions go on the same account.
        raise ValidationError({"email": ValidationError(EMAIL_TAKEN, "unique")})
    user = User(username=username, first_name=full_name.strip(), email=email.strip())
    user.set_unusable_password()
    user.full_clean(exclude=["password", "last_login"])
    user.save()
    history.record(user, user=actor, action=History.Action.CREATE, after=_account_state(user))
    for role in chosen:
        membership = Membership.objects.create(user=user, institution=institution, role=role)
        history.record_create(membership, user=actor)
    logger.info(
        "Staff: %s (id %s) created account %s (id %s) with roles %s at %s (id %s)",
        actor.get_username(),
        actor.pk,
        user.get_username(),
        user.pk,
        ",".join(chosen),
        institution.display_name,
        institution.pk,
    )
    _send_password_email(user=user, institution=institution)
    return user


@transaction.atomic
def password_email_send(
    *, actor: AbstractUser, institution: Institution, user: AbstractUser
) -> None:
    """Send a member of `institution` a new link to choose their password (e.g. the first one
    expired). Raises PermissionDenied unless `actor` administers the institution, and
    ValidationError when the member is inactive or has no e-mail address."""
    _ensure_admin(actor, institution)
    if not user.memberships.filter(institution=institution).exists():
        raise PermissionDenied(_("This account is not a member of the institution."))
    if not user.is_active or not user.email:
        raise ValidationError(
            _("The account is inactive or has no e-mail address."), code="no_email"
        )
    _send_password_email(user=user, institution=institution)
    logger.info(
        "Staff: %s (id %s) sent a password e-mail to %s (id %s) for %s (id %s)",
        actor.get_username(),
        actor.pk,
        user.get_username(),
        user.pk,
        institution.display_name,
        institution.pk,
    )


@transaction.atomic
def role_grant(
    *, actor: AbstractUser, institution: Institution, user: AbstractUser, role: str
) -> Membership:
    """Give `user` `role` at `institution`. Raises PermissionDenied unless `actor` administers
    the institution, and ValidationError for an unknown role, a role already held, or an
    inactive account (only a system administrator reactivates accounts)."""
    _ensure_admin(actor, institution)
    _lock(institution)
    (role,) = _clean_roles([role])
    if not user.is_active:
        raise ValidationError(
            _("This account is inactive. Ask a system administrator to reactivate it."),
            code="inactive",
        )
    membership, created = Membership.objects.get_or_create(
        user=user, institution=institution, role=role
    )
    if not created:
        raise ValidationError(
            _("%(user)s already holds this role."),
            code="already_held",
            params={"user": user.get_username()},
        )
    history.record_create(membership, user=actor)
    access.forget(user)
    logger.info(
        "Staff: %s (id %s) granted role %s at %s (id %s) to %s (id %s)",
        actor.get_username(),
        actor.pk,
        role,
        institution.display_name,
        institution.pk,
        user.get_username(),
        user.pk,
    )
    return membership


@transaction.atomic
def member_add_existing(
    *, actor: AbstractUser, institution: Institution, username: str, email: str, role: str
) -> Membership:
    """Give an existing account (e.g. of a person on the staff of another institution) `role`
    at `institution`. Both its username and its e-mail address must match, so that an
    administrator cannot probe for other institutions' accounts by username alone."""
    _ensure_admin(actor, institution)
    User = get_user_model()
    user = User.objects.filter(
        username__iexact=username.strip(), email__iexact=email.strip(), is_active=True
    ).first()
    if user is None or not email.strip():
        raise ValidationError(
            _("No active account has this username and e-mail address."), code="not_found"
        )
    return role_grant(actor=actor, institution=institution, user=user, role=role)


@transaction.atomic
def role_revoke(
    *, actor: AbstractUser, institution: Institution, user: AbstractUser, role: str
) -> None:
    """Take `role` at `institution` away from `user`. The last active administrator keeps the
    administrator role (ValidationError); an account left without any membership is set
    inactive if `actor` may (`may_deactivate`: never an operator's account)."""
    _ensure_admin(actor, institution)
    _lock(institution)
    membership = Membership.objects.filter(user=user, institution=institution, role=role).first()
    if membership is None:
        raise ValidationError(
            _("%(user)s does not hold this role."),
            code="not_held",
            params={"user": user.get_username()},
        )
    if role == Role.ADMIN:
        _ensure_another_admin(institution, user)
    held_at = _held_at(user)
    history.record_delete(membership, user=actor)
    membership.delete()
    access.forget(user)
    if not Membership.objects.filter(user=user, institution=institution).exists():
        _access_ended(user, [institution.pk])
    logger.info(
        "Staff: %s (id %s) revoked role %s at %s (id %s) from %s (id %s)",
        actor.get_username(),
        actor.pk,
        role,
        institution.display_name,
        institution.pk,
        user.get_username(),
        user.pk,
    )
    _deactivate_if_unattached(actor=actor, user=user, held_at=held_at)


@transaction.atomic
def member_remove(*, actor: AbstractUser, institution: Institution, user: AbstractUser) -> None:
    """End `user`'s access at `institution`: every role there is removed. The last active
    administrator cannot be removed (ValidationError); an account left without any membership
    is set inactive if `actor` may (`may_deactivate`: never an operator's account). Roles at
    other institutions are kept."""
    _ensure_admin(actor, institution)
    _lock(institution)
    memberships = Membership.objects.filter(user=user, institution=institution)
    roles = sorted(memberships.values_list("role", flat=True))
    if not roles:
        raise ValidationError(
            _("%(user)s is not a member of this institution."),
            code="not_member",
            params={"user": user.get_username()},
        )
    if Role.ADMIN in roles:
        _ensure_another_admin(institution, user)
    held_at = _held_at(user)
    for membership in memberships:
        history.record_delete(membership, user=actor)
    memberships.delete()
    access.forget(user)
    _access_ended(user, [institution.pk])
    logger.info(
        "Staff: %s (id %s) removed %s (id %s) from %s (id %s), roles %s",
        actor.get_username(),
        actor.pk,
        user.get_username(),
        user.pk,
        institution.display_name,
        institution.pk,
        ",".join(roles),
    )
    _deactivate_if_unattached(actor=actor, user=user, held_at=held_at)
