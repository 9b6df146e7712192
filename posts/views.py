"""Public pages for posts: the newest posts, one post, and writing, editing
and deleting your own. Reads use the model's QuerySet methods (the API uses the
same ones); writes go through ``posts.services``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import DetailView, FormView, ListView, TemplateView

from posts.counting import posts_counter
from posts.forms import PostForm, SearchForm
from posts.models import Post
from posts.search import InvalidSearchQuery, search_posts
from posts.services import post_create, post_delete, post_update
from project.counting import CountedPaginator
from project.forms import add_service_errors
from project.pages import PageLinksMixin

POSTS_PER_PAGE = 20


class HomeView(PageLinksMixin, ListView):
    """The newest posts, or, with ``?q=``, the posts matching a search (the same
    ``Post.objects.search()`` the API and the admin use)."""

    template_name = "posts/home.html"
    context_object_name = "posts"
    paginate_by = POSTS_PER_PAGE

    def get_queryset(self) -> QuerySet[Post]:
        self.search_form = SearchForm(self.request.GET)
        self.query = ""
        posts = Post.objects.with_author()
        self.counter = posts_counter(posts)
        if not self.search_form.is_valid():
            return posts.none()
        self.query = self.search_form.cleaned_data["q"]
        if not self.query:
            return posts.newest_first()
        try:
            results = search_posts(posts, self.query, all_posts=True)
        except InvalidSearchQuery as exc:
            self.search_form.add_error("q", str(exc))
            return posts.none()
        self.counter = posts_counter(results.posts, search=results)
        return results.posts

    def get_paginator(self, queryset: QuerySet[Post], per_page: int, *args: Any, **kwargs: Any) -> CountedPaginator:
        return CountedPaginator(queryset, per_page, *args, counter=self.counter, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # Page links keep the search: ?q=...&page=N.
        page_query = urlencode({"q": self.query}) + "&" if self.query else ""
        return super().get_context_data(search_form=self.search_form, query=self.query, page_query=page_query, **kwargs)


class PostDetailView(DetailView):
    template_name = "posts/post_detail.html"
    context_object_name = "post"

    def get_queryset(self) -> QuerySet[Post]:
        return Post.objects.with_author()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(can_change=self.object.can_be_changed_by(self.request.user), **kwargs)


class PostCreateView(LoginRequiredMixin, FormView):
    template_name = "posts/post_form.html"
    form_class = PostForm

    def form_valid(self, form: PostForm) -> HttpResponse:
        try:
            post = post_create(author=self.request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, "Your post is published.")
        return redirect(post)


class PostChangeMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Editing and deleting are for the post's author and for staff.

    Anonymous visitors are sent to the log-in page. Anyone else who is logged in
    gets 403 Forbidden, not 404: posts are public, so pretending this one does
    not exist would hide nothing, and 403 tells them why. Unknown ids are 404.
    """

    object: Post

    def test_func(self) -> bool:
        self.object = get_object_or_404(Post, pk=self.kwargs["pk"])
        return self.object.can_be_changed_by(self.request.user)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(post=self.object, **kwargs)


class PostUpdateView(PostChangeMixin, FormView):
    template_name = "posts/post_form.html"
    form_class = PostForm

    def get_initial(self) -> dict[str, Any]:
        return {"title": self.object.title, "body": self.object.body}

    def form_valid(self, form: PostForm) -> HttpResponse:
        try:
            post_update(post=self.object, **form.cleaned_data)
        except ValidationError as exc:
            # The service rolled the row back, but set the refused values on
            # the instance: reload it so the page shows what is stored.
            self.object.refresh_from_db()
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, "Your changes are saved.")
        return redirect(self.object)


class PostDeleteView(PostChangeMixin, TemplateView):
    """GET asks for confirmation; only the POST from that page deletes."""

    template_name = "posts/post_confirm_delete.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        title = self.object.title
        post_delete(post=self.object)
        messages.success(request, f"“{title}” is deleted.")
        return HttpResponseRedirect(reverse("posts:home"))
