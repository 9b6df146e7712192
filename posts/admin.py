from django.contrib import admin

from posts.models import Post


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "created_at", "updated_at"]
    list_select_related = ["author"]
    raw_id_fields = ["author"]
    readonly_fields = ["created_at", "updated_at"]
