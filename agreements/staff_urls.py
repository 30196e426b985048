"""Staff pages of agreements, meetings, documents, calendars and exports; each view module
lists its own patterns."""

from .views import calendar, documents, exports, meetings, staff

app_name = "agreements"

urlpatterns = [
    *staff.urlpatterns,
    *meetings.urlpatterns,
    *documents.urlpatterns,
    *calendar.urlpatterns,
    *exports.urlpatterns,
]
