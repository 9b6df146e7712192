from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from posts.admin_changelist import IndexFriendlyChangeList, PlainActionCheckbox
from users.account_views import send_password_reset
from users.accounts import MailUnavailable, mail_connection
from users.forms import SitePasswordResetForm
from users.models import User

# How many of a user's posts their page shows; the link leads to the rest.
RECENT_POSTS = 10


class UserCreationForm(AdminUserCreationForm):
    """Django's admin add form, asking for the email address too (the model
    requires one, unique regardless of case: the form reports a taken one)."""

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


@admin.register(User)
class UserAdmin(PlainActionCheckbox, DjangoUserAdmin):
    add_form = UserCreationForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
            },
        ),
    )
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Posts", {"fields": ("post_count", "recent_posts")}),
    )
    readonly_fields = ("post_count", "recent_posts")
    # post_count is a column the database keeps in step (users/models.py), so
    # listing and sorting by it reads no posts at all.
    list_display = ("username", "email", "is_staff", "is_active", "date_joined", "post_count")
    list_filter = ("is_staff", "is_active", "date_joined")
    search_fields = ("username", "email")
    ordering = ("id",)
    actions = ("activate_users", "deactivate_users", "send_password_reset_email")

    def get_changelist(self, request: HttpRequest, **kwargs):
        return IndexFriendlyChangeList

    @admin.action(description="Activate selected users", permissions=["change"])
    def activate_users(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = queryset.filter(is_active=False).update(is_active=True)
        self.message_user(request, f"Activated {changed} user(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected users", permissions=["change"])
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet) -> None:
        # Never lock out the person doing it: they would lose the admin at once.
        if queryset.filter(pk=request.user.pk).exists():
            self.message_user(request, "You cannot deactivate your own account; it was left active.", messages.WARNING)
            queryset = queryset.exclude(pk=request.user.pk)
        changed = queryset.filter(is_active=True).update(is_active=False)
        self.message_user(request, f"Deactivated {changed} user(s).", messages.SUCCESS)

    @admin.action(description="Send password reset email", permissions=["change"])
    def send_password_reset_email(self, request: HttpRequest, queryset: QuerySet) -> None:
        """The reset page's message, for each selected user; the same rules
        (inactive users and users without a usable password get none)."""
        users = list(queryset.order_by("pk").only("email"))
        sent = 0
        try:
            with mail_connection(purpose="password reset (admin action)") as connection:
                for user in users:
                    form = SitePasswordResetForm({"email": user.email})
                    if form.is_valid():
                        sent += send_password_reset(form, request=request, connection=connection)
        except MailUnavailable:
            self.message_user(
                request,
                f"The mail server could not be reached or refused a message; {sent} of {len(users)} sent "
                "(see the log).",
                messages.ERROR,
            )
            return
        skipped = len(users) - sent
        note = f"; {skipped} skipped (inactive, or no usable password)" if skipped else ""
        self.message_user(request, f"Sent a password reset email to {sent} user(s){note}.", messages.SUCCESS)

    @admin.display(description="recent posts")
    def recent_posts(self, user: User) -> SafeString | str:
        if user.pk is None:
            return "-"
        # One query, bounded, newest first from the (author, created_at, id) index.
        posts = list(user.posts.newest_first().only("id", "author_id", "title", "created_at")[:RECENT_POSTS])
        all_posts = f"{reverse('admin:posts_post_changelist')}?{urlencode({'author': user.pk})}"
        if not posts:
            return format_html('No posts yet. <a href="{}">Posts list</a>', all_posts)
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a> <span class="quiet">{}</span></li>',
            (
                (
                    reverse("admin:posts_post_change", args=[post.pk]),
                    post.title,
                    date_format(timezone.localtime(post.created_at), "DATETIME_FORMAT"),
                )
                for post in posts
            ),
        )
        return format_html(
            '<ul class="recent-posts">{}</ul><p><a href="{}" class="all-posts">All {} posts by {}</a></p>',
            items,
            all_posts,
            user.post_count,
            user.username,
        )
