from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from posts.api import PostViewSet
from project.health import healthz
from project.stats import StatsView
from users.account_api import PasswordChangeView
from users.api import TokenView, UserViewSet

router = DefaultRouter()
router.register("posts", PostViewSet, basename="post")
router.register("users", UserViewSet, basename="user")

# The admin names the project in its header and page titles.
admin.site.site_header = "Django SQLite project administration"
admin.site.site_title = "Django SQLite project admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/stats/", StatsView.as_view(), name="api-stats"),
    path("api/auth/token/", TokenView.as_view(), name="api-token"),
    path("api/auth/password/", PasswordChangeView.as_view(), name="api-password"),
    # Session log-in and log-out for the browsable API.
    path("api/auth/", include("rest_framework.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script for the CSP to allow.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include(router.urls)),
    # Public pages: / and /posts/... (posts), /users/... and /accounts/... (users).
    path("", include("posts.urls")),
    path("", include("users.urls")),
    # Django's password reset and change views, under their standard URL names.
    path("accounts/", include("users.auth_urls")),
]

# Unknown paths under /api/ answer JSON, like every other API error.
handler404 = "project.api.not_found"
