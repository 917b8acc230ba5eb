"""``POST /api/auth/token`` and ``POST /api/auth/token/refresh``: user JWTs."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ..tokens import REFRESH, TokenError, access_token_issue, token_pair_issue, token_user
from .serializers import RefreshInput, TokenInput


def _validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _unauthorized(code: str, detail: str) -> Response:
    return Response({"error": code, "detail": detail}, status=status.HTTP_401_UNAUTHORIZED)


class TokenView(APIView):
    """Exchange a username and password for an access and a refresh JWT."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenInput, responses={200: dict})
    def post(self, request):
        data = _validated(TokenInput, request)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            return _unauthorized("invalid_credentials", "wrong username or password")
        return Response(token_pair_issue(user))


class TokenRefreshView(APIView):
    """Exchange a refresh JWT for a new access JWT."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=RefreshInput, responses={200: dict})
    def post(self, request):
        data = _validated(RefreshInput, request)
        try:
            user = token_user(data["refresh"], REFRESH)
        except TokenError as exc:
            return _unauthorized("invalid_token", str(exc))
        return Response({"access": access_token_issue(user)})
