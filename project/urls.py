from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Public pages: / and /posts/... (posts), /users/... and /accounts/... (users).
    path("", include("posts.urls")),
    path("", include("users.urls")),
]
