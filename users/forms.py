from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from users.models import User


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
