from django import forms
from django.core.exceptions import ValidationError

from project.forms import add_service_errors


class SampleForm(forms.Form):
    title = forms.CharField()
    password1 = forms.CharField()


def bound_form():
    form = SampleForm(data={"title": "t", "password1": "p"})
    assert form.is_valid()
    return form


def test_field_keyed_errors_go_next_to_their_field_renamed_where_asked():
    form = bound_form()
    error = ValidationError({"title": ["Too long."], "password": ["Too common.", "Too short."]})
    add_service_errors(form, error, rename={"password": "password1"})
    assert form.errors == {"title": ["Too long."], "password1": ["Too common.", "Too short."]}
    assert "title" not in form.cleaned_data


def test_errors_for_fields_the_form_lacks_and_plain_errors_are_shown_at_the_top():
    form = bound_form()
    add_service_errors(form, ValidationError({"author": ["Gone."]}))
    add_service_errors(form, ValidationError("The database refused the post."))
    assert form.non_field_errors() == ["Gone.", "The database refused the post."]
    assert not form.is_valid()
