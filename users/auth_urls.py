"""Django's password views under their standard, unnamespaced URL names
(the same paths and names as ``django.contrib.auth.urls``): the views
themselves, the reset message and other apps reverse these names. Mounted
under /accounts/ by project/urls.py. The site's other account pages are in
``users/urls.py`` (``users:...``)."""

from django.urls import path

from users import account_views as views

urlpatterns = [
    path("password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
