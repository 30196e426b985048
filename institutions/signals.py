"""Ending an account's sessions when it is switched off, whoever switches it off.

The staff pages (`institutions.services`), the admin's change page and any other code that
saves the account with `is_active` False all end its sessions here, so that reactivating the
account later does not bring an old session cookie back to life, and what its memberships
justified (its calendar feeds: `services.account_deactivated`).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save


def _note_deactivation(sender, instance, raw: bool = False, **kwargs) -> None:
    if raw or instance.pk is None or instance.is_active:
        instance._ending_sessions = False
        return
    was_active = sender._default_manager.filter(pk=instance.pk, is_active=True).exists()
    instance._ending_sessions = was_active


def _end_sessions(sender, instance, raw: bool = False, **kwargs) -> None:
    if raw or not getattr(instance, "_ending_sessions", False):
        return
    instance._ending_sessions = False
    from .services import account_deactivated

    account_deactivated(instance)


def connect() -> None:
    """Connect the receivers to the user model (called from the app's `ready`)."""
    user_model = get_user_model()
    pre_save.connect(_note_deactivation, sender=user_model, dispatch_uid="pks_note_deactivation")
    post_save.connect(_end_sessions, sender=user_model, dispatch_uid="pks_end_sessions")
