from django.contrib.auth import views as auth_views
from django.urls import path

from users import views
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
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
