from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstitutionsConfig(AppConfig):
    name = "institutions"
    verbose_name = _("Institutions")

    def ready(self) -> None:
        from . import files, signals

        signals.connect()
        files.ensure_upload_folder()
