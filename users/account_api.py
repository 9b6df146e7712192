"""``POST /api/auth/password/``: a token client changes its user's password.

The old password is checked through ``authenticate()``, so wrong guesses
count towards the log-in lockout (429 once it is spent). The user's token is
rotated: the answer carries the new one, and the old one is refused from the
next request on. A browser session that made the call stays logged in.
"""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from project.serializers import StrictCharField
from users.accounts import verify_own_password
from users.services import password_change


def _password_field() -> serializers.CharField:
    return StrictCharField(write_only=True, max_length=128, trim_whitespace=False, style={"input_type": "password"})


class PasswordChangeSerializer(serializers.Serializer):
    old_password = _password_field()
    # Checked by Django's password validators in the service.
    new_password = _password_field()


class TokenSerializer(serializers.Serializer):
    """The answer of /api/auth/token/ and /api/auth/password/."""

    token = serializers.CharField(read_only=True)


class PasswordChangeView(APIView):
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = PasswordChangeSerializer

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={
            # The errors (a wrong old password or a refused new one: 400; the
            # log-in lockout: 429) are added to every operation by project/schema.py.
            200: OpenApiResponse(TokenSerializer, description="Changed; the user's new API token."),
        },
        summary="Change the password (rotates the API token)",
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, user = serializer.validated_data, request.user
        if not verify_own_password(request, user, data["old_password"]):
            raise ValidationError({"old_password": ["Your old password was entered incorrectly."]})
        try:
            token = password_change(user=user, password=data["new_password"], issue_token=True)
        except DjangoValidationError as exc:
            raise ValidationError({"new_password": exc.messages}) from exc
        if isinstance(request.successful_authenticator, SessionAuthentication):
            update_session_auth_hash(request, user)
        # A credential: no cache may keep it.
        return Response({"token": token.key}, headers={"Cache-Control": "no-store"})
