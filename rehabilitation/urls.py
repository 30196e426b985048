from django.urls import path

from . import views

app_name = "rehabilitation"

urlpatterns = [
    path("programmes/<int:pk>/", views.programme_detail, name="programme"),
    path("participants/<int:pk>/", views.participant_detail, name="participant"),
]
