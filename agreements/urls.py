from django.urls import path

from .views import public as views

app_name = "public"

urlpatterns = [
    path("", views.registry, name="registry"),
    path("pks/<int:pk>/", views.agreement_detail, name="agreement"),
    path("pks/<int:pk>/pdf/", views.agreement_pdf, name="agreement_pdf"),
    path("pks/<int:pk>/scan/", views.agreement_scan, name="agreement_scan"),
    path("verify/<str:code>/", views.verify, name="verify"),
]
