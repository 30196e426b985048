from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AgreementsConfig(AppConfig):
    name = "agreements"
    verbose_name = _("Agreements")

    def ready(self) -> None:
        from institutions.services import access_ended

        from . import caching
        from .services.calendar import feeds_end_with_access

        # A feed ends with the membership or the account that justified it.
        access_ended.connect(feeds_end_with_access, dispatch_uid="agreements_feeds_end")
        # The cached registry results and calendar feeds are renewed by every write.
        caching.connect()
