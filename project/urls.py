from django.contrib import admin
from django.urls import path

# The admin names the project in its header and page titles.
admin.site.site_header = "Django SQLite project administration"
admin.site.site_title = "Django SQLite project admin"

urlpatterns = [
    path("admin/", admin.site.urls),
]
