from __future__ import annotations

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.mail.backends.base import BaseEmailBackend
from django.http import HttpRequest

from users.accounts import render_message, verify_own_password
from users.models import User
from users.services import email_taken, password_change


class SignUpForm(forms.Form):
    """Sign-up fields. Username and email take their rules (length, allowed
    characters) from the model; uniqueness and password strength are checked by
    ``users.services.user_create``, whose errors the view puts next to these fields."""

    username = User._meta.get_field("username").formfield(
        # A model field's validators run in Model.full_clean, not in the form
        # field it makes: the allowed characters are checked here explicitly.
        validators=[User.username_validator],
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = User._meta.get_field("email").formfield(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="The same password, to catch a typo.",
    )

    def clean_password2(self) -> str:
        password1 = self.cleaned_data.get("password1")
        password2 = self.cleaned_data["password2"]
        if password1 and password1 != password2:
            raise forms.ValidationError("The two passwords do not match.", code="password_mismatch")
        return password2


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        # Django's text warns that both fields may be case-sensitive; here only the password is.
        "invalid_login": "Please enter a correct username and password. Note that the password is case-sensitive.",
    }


# --- Account self-service ------------------------------------------------------


class CurrentPasswordMixin:
    """A ``current_password`` field checked through ``authenticate()``, so wrong
    guesses count towards the log-in lockout (``users.accounts.verify_own_password``)."""

    def clean_current_password(self) -> str:
        password = self.cleaned_data["current_password"]
        if not verify_own_password(self.request, self.user, password):
            raise forms.ValidationError(
                "Your password was entered incorrectly. Please enter it again.", code="password_incorrect"
            )
        return password


def current_password_field(label: str = "Your password") -> forms.CharField:
    return forms.CharField(
        label=label, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class SitePasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form, sending through a connection the view opened
    first, and letting a failure reach the view (Django's own form logs it
    and carries on as if the message had gone)."""

    def save(self, *, connection: BaseEmailBackend, **kwargs) -> int:
        self.connection, self.sent = connection, 0
        super().save(**kwargs)
        return self.sent

    def send_mail(
        self, subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name=None
    ) -> None:
        message = render_message(
            subject_template=subject_template_name, body_template=email_template_name, context=context, to=to_email
        )
        self.connection.send_messages([message])
        self.sent += 1


class SiteSetPasswordForm(auth_forms.SetPasswordForm):
    """The new password after a reset: saved by the service, which rotates the API token."""

    def save(self, commit: bool = True) -> User:
        password_change(user=self.user, password=self.cleaned_data["new_password1"])
        return self.user


class SitePasswordChangeForm(SiteSetPasswordForm, auth_forms.PasswordChangeForm):
    """Django's change form; the old password is checked by ``authenticate()`` (lockout)."""

    def __init__(self, user: User, *args, request: HttpRequest | None = None, **kwargs) -> None:
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        password = self.cleaned_data["old_password"]
        if not verify_own_password(self.request, self.user, password):
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return password


class EmailChangeForm(CurrentPasswordMixin, forms.Form):
    email = User._meta.get_field("email").formfield(
        label="New email address", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    current_password = current_password_field()

    def __init__(self, *args, user: User, request: HttpRequest, **kwargs) -> None:
        self.user, self.request = user, request
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if email.lower() == self.user.email.lower():
            raise forms.ValidationError("That is already your address.", code="unchanged")
        if email_taken(email, exclude=self.user):
            raise forms.ValidationError("A user with that email address already exists.", code="taken")
        return email


class AccountDeleteForm(CurrentPasswordMixin, forms.Form):
    current_password = current_password_field()

    def __init__(self, *args, user: User, request: HttpRequest, **kwargs) -> None:
        self.user, self.request = user, request
        super().__init__(*args, **kwargs)
