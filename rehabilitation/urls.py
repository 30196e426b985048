"""Rehabilitation pages; each view module lists its own patterns (staff pages under staff/,
public aggregate statistics outside it)."""

from .views import access_log, enrolments, participants, programmes, reports, sessions, transfers

app_name = "rehabilitation"

urlpatterns = [
    *programmes.urlpatterns,
    *participants.urlpatterns,
    *transfers.urlpatterns,
    *enrolments.urlpatterns,
    *sessions.urlpatterns,
    *reports.urlpatterns,
    *access_log.urlpatterns,
]
