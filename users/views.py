"""Public pages for people: the users list, an author's page and sign-up.
Log-in and log-out are Django's own views (see ``users/urls.py``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.views.generic import FormView, ListView

from posts.models import Post
from posts.views import POSTS_PER_PAGE
from project.counting import CountedPaginator, known
from project.forms import add_service_errors
from project.pages import PageLinksMixin
from users.forms import SignUpForm
from users.models import User
from users.services import user_create

USERS_PER_PAGE = 50


class UserListView(PageLinksMixin, ListView):
    template_name = "users/user_list.html"
    context_object_name = "people"
    paginate_by = USERS_PER_PAGE

    def get_queryset(self) -> QuerySet[User]:
        # Alphabetical (by the stored spelling); post_count is a column of the row.
        return User.objects.order_by("username", "id")


class AuthorView(PageLinksMixin, ListView):
    """One person's posts, newest first, at /users/<username>/."""

    template_name = "users/user_detail.html"
    context_object_name = "posts"
    paginate_by = POSTS_PER_PAGE

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = kwargs["username"]
        try:
            # Case-insensitive, like log-in and the unique index.
            self.author = User.objects.get_by_natural_key(username)
        except User.DoesNotExist:
            raise Http404("No such user.") from None
        if self.author.username != username:
            # /users/ALICE/ and /users/alice/ are one page: send to the stored spelling.
            return redirect(self.author, permanent=True)
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Post]:
        return Post.objects.with_author().by_author(self.author).newest_first()

    def get_paginator(self, queryset: QuerySet[Post], per_page: int, *args: Any, **kwargs: Any) -> CountedPaginator:
        # Counted by the author's post_count, read with the author.
        return CountedPaginator(queryset, per_page, *args, counter=known(self.author.post_count), **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(author=self.author, **kwargs)


class SignUpView(FormView):
    template_name = "users/signup.html"
    form_class = SignUpForm
    success_url = reverse_lazy("users:login")

    def form_valid(self, form: SignUpForm) -> HttpResponse:
        data = form.cleaned_data
        try:
            user = user_create(username=data["username"], email=data["email"], password=data["password1"])
        except ValidationError as exc:
            add_service_errors(form, exc, rename={"password": "password1"})
            return self.form_invalid(form)
        messages.success(self.request, f"Welcome, {user.username}! Your account is ready: log in to start writing.")
        return super().form_valid(form)
