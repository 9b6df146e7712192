from datetime import datetime, timedelta, timezone
from http import HTTPStatus

import pytest
from django.urls import reverse

from posts.models import Post
from users.admin import RECENT_POSTS
from users.models import User

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:users_user_changelist")


def make_user(name: str, **extra) -> User:
    return User.objects.create_user(username=name, email=f"{name}@example.com", password="pw-Secret-123", **extra)


@pytest.fixture
def people():
    users = {name: make_user(name) for name in ("alice", "bob", "carol")}
    users["bob"].is_active = False
    users["bob"].save()
    for name, n in (("alice", 3), ("bob", 1), ("carol", 2)):
        Post.objects.bulk_create([Post(author=users[name], title=f"{name} {i}", body="b") for i in range(n)])
    return users


def usernames(response) -> list[str]:
    return [user.username for user in response.context["cl"].result_list]


def test_the_list_pins_its_queries_and_shows_post_counts(admin_client, people, django_assert_num_queries):
    # Expect 5 queries: * session * user * count * total count ("N total"
    # of 4 users is cheap) * the page. The post counts are a column: no join,
    # no GROUP BY, no query per row.
    with django_assert_num_queries(5):
        response = admin_client.get(CHANGELIST)
    assert response.status_code == HTTPStatus.OK
    assert usernames(response) == ["admin", "alice", "bob", "carol"]
    html = response.content.decode()
    for header in ("Username", "Email address", "Staff status", "Active", "Date joined", "Posts"):
        assert header in html
    assert [u.post_count for u in response.context["cl"].result_list] == [0, 3, 1, 2]
    make_user("dave")
    with django_assert_num_queries(5):
        admin_client.get(CHANGELIST)


def test_sorting_by_post_count(admin_client, people):
    assert usernames(admin_client.get(CHANGELIST, {"o": "6"})) == ["admin", "bob", "carol", "alice"]
    assert usernames(admin_client.get(CHANGELIST, {"o": "-6"})) == ["alice", "carol", "bob", "admin"]


def test_filters_and_search(admin_client, people):
    assert usernames(admin_client.get(CHANGELIST, {"is_active__exact": "0"})) == ["bob"]
    assert usernames(admin_client.get(CHANGELIST, {"is_staff__exact": "1"})) == ["admin"]
    people["carol"].date_joined = datetime.now(timezone.utc) - timedelta(days=400)
    people["carol"].save()
    week_ago = (datetime.now(timezone.utc) - timedelta(days=7)).isoformat(sep=" ")
    joined = admin_client.get(CHANGELIST, {"date_joined__gte": week_ago})
    assert "carol" not in usernames(joined)
    assert "Past 7 days" in admin_client.get(CHANGELIST).content.decode()
    assert usernames(admin_client.get(CHANGELIST, {"q": "CAROL@example"})) == ["carol"]
    assert usernames(admin_client.get(CHANGELIST, {"q": "bo"})) == ["bob"]


def test_activate_and_deactivate_actions(admin_client, admin_user, people):
    ids = [people["alice"].pk, people["bob"].pk]
    response = admin_client.post(CHANGELIST, {"action": "activate_users", "_selected_action": ids}, follow=True)
    assert "Activated 1 user(s)." in response.content.decode()
    assert set(User.objects.filter(pk__in=ids).values_list("is_active", flat=True)) == {True}

    ids.append(admin_user.pk)
    response = admin_client.post(CHANGELIST, {"action": "deactivate_users", "_selected_action": ids}, follow=True)
    html = response.content.decode()
    assert "You cannot deactivate your own account" in html
    assert "Deactivated 2 user(s)." in html
    assert not User.objects.filter(pk__in=ids[:2], is_active=True).exists()
    assert User.objects.get(pk=admin_user.pk).is_active


def test_the_add_form_asks_for_an_email_and_refuses_a_taken_one(admin_client, people):
    add = reverse("admin:users_user_add")
    assert 'name="email"' in admin_client.get(add).content.decode()
    form = {"username": "erin", "usable_password": "true", "password1": "pw-Erin-12345", "password2": "pw-Erin-12345"}

    response = admin_client.post(add, form)
    assert response.status_code == HTTPStatus.OK
    assert "email" in response.context["adminform"].form.errors

    response = admin_client.post(add, {**form, "email": "ALICE@example.com"})
    assert response.status_code == HTTPStatus.OK
    assert "A user with that email address already exists." in str(response.context["adminform"].form.errors)

    response = admin_client.post(add, {**form, "username": "Alice", "email": "erin@example.com"})
    assert "username" in response.context["adminform"].form.errors
    assert not User.objects.filter(username__iexact="erin").exists()
    assert User.objects.count() == 4

    response = admin_client.post(add, {**form, "email": "erin@example.com"})
    assert response.status_code == HTTPStatus.FOUND
    erin = User.objects.get(username="erin")
    assert erin.email == "erin@example.com"
    assert erin.check_password("pw-Erin-12345")
    assert not erin.is_staff


def test_the_change_page_shows_recent_posts_bounded_with_a_link_to_all(admin_client, django_assert_max_num_queries):
    alice = make_user("alice")
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    Post.objects.bulk_create(
        [Post(author=alice, title=f"post {i:02d}", body="b", created_at=start + timedelta(days=i)) for i in range(25)]
    )
    url = reverse("admin:users_user_change", args=[alice.pk])
    # Bounded whatever the number of posts: no query per post.
    with django_assert_max_num_queries(10):
        response = admin_client.get(url)
    html = response.content.decode()
    shown = [f"post {i:02d}" for i in range(25) if f">post {i:02d}<" in html]
    assert shown == [f"post {i:02d}" for i in range(25 - RECENT_POSTS, 25)]
    link = f"{reverse('admin:posts_post_changelist')}?author={alice.pk}"
    assert f'href="{link}"' in html
    assert "All 25 posts by alice" in html
    listed = admin_client.get(link)
    assert len(listed.context["cl"].result_list) == 25


def test_editing_a_user_keeps_the_post_count(admin_client, people):
    alice = people["alice"]
    url = reverse("admin:users_user_change", args=[alice.pk])
    admin_client.get(url)
    # A post written while the form is open: saving the user must not put
    # back the count the page was built with.
    Post.objects.create(author=alice, title="written while the form was open", body="b")
    data = {
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "",
        "is_active": "on",
        "date_joined_0": "2025-01-01",
        "date_joined_1": "10:00:00",
        "last_login_0": "",
        "last_login_1": "",
    }
    response = admin_client.post(url, data)
    assert response.status_code == HTTPStatus.FOUND
    alice.refresh_from_db()
    assert (alice.first_name, alice.post_count) == ("Alice", 4)


def test_site_header_title_and_the_api_docs_link(admin_client):
    response = admin_client.get(reverse("admin:index"))
    html = response.content.decode()
    assert "Django SQLite project administration" in html
    assert "<title>Site administration | Django SQLite project admin</title>" in html
    assert 'href="/api/docs/"' in html


# Markup written around the forms (a script, an import): the admin's own HTML must escape it.
MARKUP = '"><b>x</b>'
MARKUP_ESCAPED = "&quot;&gt;&lt;b&gt;x&lt;/b&gt;"


def test_markup_in_a_username_and_a_post_title_is_escaped_in_the_recent_posts(admin_client):
    eve = User.objects.create_user(username=f"eve{MARKUP}", email="eve@example.com", password="pw-Secret-123")
    post = Post.objects.create(author=eve, title=f"T{MARKUP}", body="b")
    html = admin_client.get(reverse("admin:users_user_change", args=[eve.pk])).content.decode()
    assert MARKUP not in html
    recent = html[html.index('<ul class="recent-posts">') :]
    recent = recent[: recent.index("</p>")]
    post_url = reverse("admin:posts_post_change", args=[post.pk])
    assert f'<li><a href="{post_url}">T{MARKUP_ESCAPED}</a>' in recent
    assert f">All 1 posts by eve{MARKUP_ESCAPED}</a>" in recent


def test_markup_in_a_username_is_escaped_in_the_row_checkbox(admin_client):
    eve = User.objects.create_user(username=f"eve{MARKUP}", email="eve@example.com", password="pw-Secret-123")
    html = admin_client.get(CHANGELIST).content.decode()
    assert MARKUP not in html
    assert (
        f'<input type="checkbox" name="_selected_action" value="{eve.pk}" class="action-select" '
        f'aria-label="Select this object for an action - eve{MARKUP_ESCAPED}">'
    ) in html
