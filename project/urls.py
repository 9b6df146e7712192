from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from posts.api import PostViewSet
from posts.stats import StatsView
from project.health import healthz
from users.account_api import PasswordChangeView
from users.api import TokenView, UserViewSet

router = DefaultRouter()
router.register("posts", PostViewSet, basename="post")
router.register("users", UserViewSet, basename="user")

# The admin names the project in its header and page titles.
admin.site.site_header = "Django SQLite project administration"
admin.site.site_title = "Django SQLite project admin"

api_patterns = [
    path("stats/", StatsView.as_view(), name="api-stats"),
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("auth/password/", PasswordChangeView.as_view(), name="api-password"),
    # Session log-in and log-out for the browsable API.
    path("auth/", include("rest_framework.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script for the CSP to allow.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # Under API_PATH_PREFIX ("/api/"), the one setting that the body-size
    # middleware and the JSON 404 read too.
    path(settings.API_PATH_PREFIX.lstrip("/"), include(api_patterns)),
    # Public pages: / and /posts/... (posts), /users/... and /accounts/... (users).
    path("", include("posts.urls")),
    path("", include("users.urls")),
    # Django's password reset and change views, under their standard URL names.
    path("accounts/", include("users.auth_urls")),
]

# Unknown paths under API_PATH_PREFIX answer JSON, like every other API error.
handler404 = "project.api.not_found"
