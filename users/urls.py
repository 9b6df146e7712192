from django.contrib.auth import views as auth_views
from django.urls import path

from users import account_views, views
from users.forms import LoginForm

app_name = "users"

urlpatterns = [
    path("users/", views.UserListView.as_view(), name="list"),
    path("users/<str:username>/", views.AuthorView.as_view(), name="detail"),
    path("accounts/signup/", views.SignUpView.as_view(), name="signup"),
    # Django's own log-in view; someone already logged in is sent on, not shown the form.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    # Log-out is a POST (a link or an <img> elsewhere cannot log you out).
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="posts:home"), name="logout"),
    # The account's own pages; Django's password views are in users/auth_urls.py.
    path("accounts/", account_views.AccountView.as_view(), name="account"),
    path("accounts/email/", account_views.EmailChangeView.as_view(), name="email_change"),
    # The link in the message; its token moves into the session and the browser
    # goes on to accounts/email/confirm/ (EmailChangeConfirmView).
    path(
        "accounts/email/confirm/<str:token>/", account_views.EmailChangeConfirmView.as_view(), name="email_change_link"
    ),
    path("accounts/email/confirm/", account_views.EmailChangeConfirmView.as_view(), name="email_change_confirm"),
    path("accounts/delete/", account_views.AccountDeleteView.as_view(), name="account_delete"),
    path("accounts/export/", account_views.AccountExportView.as_view(), name="account_export"),
]
