"""``POST /api/auth/token`` and ``POST /api/auth/token/refresh``: user JWTs."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ..rate_limits import failure_count, failures_blocked, login_limits
from ..tokens import REFRESH, TokenError, access_token_issue, token_pair_issue, token_user
from .serializers import RefreshInput, TokenInput


def _validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _unauthorized(code: str, detail: str) -> Response:
    return Response({"error": code, "detail": detail}, status=status.HTTP_401_UNAUTHORIZED)


def _too_many(retry_after: int) -> Response:
    return Response({"error": "rate_limited",
                     "detail": f"too many failed attempts: try again in {retry_after} s"},
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                    headers={"Retry-After": str(retry_after)})


class TokenView(APIView):
    """Exchange a username and password for an access and a refresh JWT."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenInput, responses={200: dict})
    def post(self, request):
        data = _validated(TokenInput, request)
        limits = login_limits(request.META.get("REMOTE_ADDR"), data["username"])
        if (retry_after := failures_blocked(limits)) is not None:
            return _too_many(retry_after)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:  # the failure is counted (tenancy.auth_backends)
            return _unauthorized("invalid_credentials", "wrong username or password")
        return Response(token_pair_issue(user))


class TokenRefreshView(APIView):
    """Exchange a refresh JWT for a new access JWT."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=RefreshInput, responses={200: dict})
    def post(self, request):
        data = _validated(RefreshInput, request)
        limits = login_limits(request.META.get("REMOTE_ADDR"))
        if (retry_after := failures_blocked(limits)) is not None:
            return _too_many(retry_after)
        try:
            user = token_user(data["refresh"], REFRESH)
        except TokenError as exc:
            failure_count(limits)
            return _unauthorized("invalid_token", str(exc))
        return Response({"access": access_token_issue(user)})
