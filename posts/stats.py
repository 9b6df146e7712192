"""``/api/stats/``: the site's aggregates in a fixed number of queries."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from posts.models import Post
from users.models import User

TOP_AUTHORS = 10
DAYS = 30


class StatsView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "Stats",
            {
                "user_count": serializers.IntegerField(),
                "post_count": serializers.IntegerField(),
                "average_posts_per_user": serializers.FloatField(),
                "top_authors": inline_serializer(
                    "TopAuthor",
                    {
                        "id": serializers.IntegerField(),
                        "username": serializers.CharField(),
                        "post_count": serializers.IntegerField(),
                    },
                    many=True,
                ),
                "posts_per_day": inline_serializer(
                    "PostsPerDay", {"date": serializers.DateField(), "count": serializers.IntegerField()}, many=True
                ),
            },
        )
    )
    def get(self, request: Request) -> Response:
        """User and post counts, the top authors and posts per UTC day over the last 30 days (4 queries)."""
        user_count = User.objects.count()
        post_count = Post.objects.count()
        top = User.objects.top_authors(TOP_AUTHORS).values("id", "username", "post_count")
        return Response(
            {
                "user_count": user_count,
                "post_count": post_count,
                "average_posts_per_user": round(post_count / user_count, 2) if user_count else 0.0,
                "top_authors": list(top),
                "posts_per_day": Post.objects.per_day(days=DAYS),
            }
        )
