"""Form utilities shared by the pages of every app."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError


def add_service_errors(form: forms.Form, error: ValidationError, *, rename: Mapping[str, str] | None = None) -> None:
    """Show a service's ValidationError on ``form``.

    Messages keyed by a field the form has appear next to that field (``rename``
    maps a service's key to the form's field name, e.g. ``password`` to
    ``password1``); anything else appears at the top of the form, so no message
    is ever lost.
    """
    rename = rename or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for key, errors in error.error_dict.items():
        field = rename.get(key, key)
        form.add_error(field if field in form.fields else None, errors)
