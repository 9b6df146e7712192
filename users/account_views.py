"""Account self-service pages under /accounts/: password reset and change
(Django's own views, with the site's templates and forms), email change with
confirmation, account deletion and data export.

Django's password views and the reset message reverse their standard URL
names (``password_reset_done``, ``password_reset_confirm``, ...), so those
are mounted without a namespace (``users/auth_urls.py``); the other pages
are ``users:...`` like the rest of the app.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, TemplateView, View

from posts.api import PostSerializer
from posts.models import Post
from project.api import ORJSONRenderer
from project.forms import add_service_errors
from users.accounts import (
    MailUnavailable,
    email_change_token,
    link_lifetime,
    mail_connection,
    read_email_change_token,
    render_message,
    reserve_reset_request,
    site_context,
)
from users.api import UserSerializer
from users.forms import (
    AccountDeleteForm,
    EmailChangeForm,
    SitePasswordChangeForm,
    SitePasswordResetForm,
    SiteSetPasswordForm,
)
from users.services import account_delete, email_taken, user_update


def mail_unavailable(request: HttpRequest) -> HttpResponse:
    """503: the message could not be sent, and nothing was changed."""
    return render(request, "accounts/mail_unavailable.html", status=503)


def too_many_reset_requests(request: HttpRequest, retry_after: int) -> HttpResponse:
    minutes = math.ceil(retry_after / 60)
    response = render(request, "accounts/reset_limited.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


class AccountView(LoginRequiredMixin, TemplateView):
    """/accounts/: the signed-in user's account and what they can do with it."""

    template_name = "accounts/account.html"


# --- Password reset (Django's views) -------------------------------------------


RESET_SUBJECT_TEMPLATE = "accounts/email/password_reset_subject.txt"
RESET_BODY_TEMPLATE = "accounts/email/password_reset.txt"


def send_password_reset(form: SitePasswordResetForm, *, request: HttpRequest, connection: Any) -> int:
    """Send the reset message for a valid form's address over an open
    connection (the reset page and the admin action); how many were sent
    (0 for an address without an active account with a usable password)."""
    return form.save(
        connection=connection,
        use_https=request.is_secure(),
        email_template_name=RESET_BODY_TEMPLATE,
        subject_template_name=RESET_SUBJECT_TEMPLATE,
        request=request,
        extra_email_context={"lifetime": link_lifetime()},
    )


class PasswordResetView(auth_views.PasswordResetView):
    """Asks for an address; the same answer whether or not an account has it.

    Requests count against two budgets (the address asked for, and the
    client), in the log-in lockout's table. The mail connection is opened
    before the address is looked up, so a server that is down gives the same
    "try later" page for every address.
    """

    form_class = SitePasswordResetForm
    template_name = "accounts/password_reset_form.html"

    def form_valid(self, form: SitePasswordResetForm) -> HttpResponse:
        retry_after = reserve_reset_request(self.request, form.cleaned_data["email"])
        if retry_after is not None:
            return too_many_reset_requests(self.request, retry_after)
        try:
            with mail_connection(purpose="password reset") as connection:
                send_password_reset(form, request=self.request, connection=connection)
        except MailUnavailable:
            return mail_unavailable(self.request)
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view: the link is checked, then the token moves from the URL
    into the session (no token in a Referer header) and the form is shown.
    A bad link (tampered, expired, used, or sent before the password changed)
    is a 400 page that offers a new link."""

    form_class = SiteSetPasswordForm
    template_name = "accounts/password_reset_confirm.html"

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        if not context.get("validlink"):
            kwargs.setdefault("status", 400)
        return super().render_to_response(context, **kwargs)


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


# --- Password change (Django's views) ------------------------------------------


class PasswordChangeView(auth_views.PasswordChangeView):
    """Old password (counted by the lockout), new password twice. The API
    token is rotated; other sessions end, this one stays."""

    form_class = SitePasswordChangeForm
    template_name = "accounts/password_change_form.html"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


# --- Email change ---------------------------------------------------------------


class EmailChangeView(LoginRequiredMixin, FormView):
    """Sends a link to the new address; nothing changes until it is followed."""

    form_class = EmailChangeForm
    template_name = "accounts/email_change_form.html"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user, "request": self.request}

    def form_valid(self, form: EmailChangeForm) -> HttpResponse:
        user, new_email = self.request.user, form.cleaned_data["email"]
        token = email_change_token(user, new_email)
        context = {
            **site_context(self.request),
            "user": user,
            "new_email": new_email,
            "token": token,
            "lifetime": link_lifetime(),
        }
        message = render_message(
            subject_template="accounts/email/email_change_subject.txt",
            body_template="accounts/email/email_change.txt",
            context=context,
            to=new_email,
        )
        try:
            with mail_connection(purpose="email change", user_id=user.pk) as connection:
                connection.send_messages([message])
        except MailUnavailable:
            return mail_unavailable(self.request)
        messages.success(
            self.request,
            f"We sent a link to {new_email}. Your address stays {user.email} until you follow it.",
        )
        return redirect("users:account")


EMAIL_CHANGE_SESSION_TOKEN = "_email_change_token"  # noqa: S105 (a session key, not a secret)


@method_decorator(never_cache, name="dispatch")
class EmailChangeConfirmView(View):
    """The link from the message: GET shows what will change, the POST does it.

    As in Django's password reset, a good link's token moves into the session
    and the browser is sent to the same page without it, so the token is in
    no Referer header and in no log line written for that page (Django logs
    the path of every 5xx answer). A GET alone changes nothing, so a mail
    scanner that opens the link cannot confirm for the user. The address is
    checked again here: another account may have taken it since the link was sent.
    """

    template_name = "accounts/email_change_confirm.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        token = kwargs.get("token")
        found = read_email_change_token(token or request.session.get(EMAIL_CHANGE_SESSION_TOKEN, ""))
        if found is None:
            return self.refuse(request, "invalid")
        if token is not None:
            request.session[EMAIL_CHANGE_SESSION_TOKEN] = token
            return redirect("users:email_change_confirm")
        self.user, self.new_email = found
        return super().dispatch(request, *args, **kwargs)

    def refuse(self, request: HttpRequest, reason: str, *, status: int = 400) -> HttpResponse:
        context = {"reason": reason, "new_email": getattr(self, "new_email", None)}
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if email_taken(self.new_email, exclude=self.user):
            return self.refuse(request, "taken")
        return render(request, self.template_name, {"account": self.user, "new_email": self.new_email})

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user, old_email = self.user, self.user.email
        if email_taken(self.new_email, exclude=user):
            return self.refuse(request, "taken")
        notice = render_message(
            subject_template="accounts/email/email_changed_subject.txt",
            body_template="accounts/email/email_changed.txt",
            context={**site_context(request), "user": user, "old_email": old_email, "new_email": self.new_email},
            to=old_email,
        )
        changed = False
        try:
            # Opened before the change: a server that is down changes nothing.
            with mail_connection(purpose="email changed notice", user_id=user.pk) as connection:
                try:
                    user_update(user=user, email=self.new_email)
                except ValidationError:
                    # Taken between the check above and the write (the unique index decided).
                    return self.refuse(request, "taken")
                changed = True
                del request.session[EMAIL_CHANGE_SESSION_TOKEN]
                connection.send_messages([notice])
        except MailUnavailable:
            if not changed:
                return mail_unavailable(request)
            # The address did change; only the notice to the old one failed (logged).
        messages.success(request, f"Your email address is now {user.email}.")
        return redirect("users:account" if request.user.is_authenticated else "users:login")


# --- Deletion and export --------------------------------------------------------


class AccountDeleteView(LoginRequiredMixin, FormView):
    """Password required. The user's posts are deleted with the account
    (the page says so and offers the export first); the last superuser is refused."""

    form_class = AccountDeleteForm
    template_name = "accounts/account_delete.html"
    success_url = reverse_lazy("posts:home")

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user, "request": self.request}

    def form_valid(self, form: AccountDeleteForm) -> HttpResponse:
        user = self.request.user
        username, posts = user.username, user.post_count
        try:
            account_delete(user=user)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        logout(self.request)
        messages.success(
            self.request, f"The account {username} and its {posts} post{'s' if posts != 1 else ''} were deleted."
        )
        return super().form_valid(form)


@method_decorator(never_cache, name="dispatch")
class AccountExportView(LoginRequiredMixin, View):
    """The user's account and posts as one JSON file, in the API's shapes."""

    def get(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        context = {"request": request}
        posts = Post.objects.for_api().by_author(user).newest_first()
        account = {
            **UserSerializer(user, context=context).data,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "last_login": user.last_login,
        }
        data = {
            "exported_at": timezone.now(),
            "account": account,
            "posts": PostSerializer(posts.iterator(chunk_size=500), many=True, context=context).data,
        }
        response = HttpResponse(ORJSONRenderer().render(data), content_type="application/json")
        filename = f"{user.pk}-{timezone.now():%Y%m%d}.json"
        response["Content-Disposition"] = f'attachment; filename="account-{filename}"'
        return response
