from __future__ import annotations

from django import forms

from posts.models import Post


class PostForm(forms.Form):
    """Title and body of a post. The fields come from the model (length,
    required), so the page and the database agree; the service has the last word."""

    title = Post._meta.get_field("title").formfield()
    body = Post._meta.get_field("body").formfield(widget=forms.Textarea(attrs={"rows": 12}))


class SearchForm(forms.Form):
    """The search box on the home page. Parsing and limits are the search's own
    (``posts.search``); its refusals come back as errors on this field."""

    q = forms.CharField(label="Search posts", required=False, max_length=500, strip=True)
