from __future__ import annotations

from django import forms

from posts.models import Post


class PostForm(forms.Form):
    """Title and body of a post. The fields come from the model (length,
    required), so the page and the database agree; the service has the last word."""

    title = Post._meta.get_field("title").formfield()
    body = Post._meta.get_field("body").formfield(widget=forms.Textarea(attrs={"rows": 12}))
