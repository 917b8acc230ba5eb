"""Bearer JWT authentication for the management API."""

from rest_framework import authentication, exceptions

from ..tokens import ACCESS, TokenError, token_user


class BearerJWTAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <access token>`` from ``POST /api/auth/token``."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        try:
            user = token_user(parts[1], ACCESS)
        except TokenError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        return user, parts[1]

    def authenticate_header(self, request):
        return 'Bearer realm="flagstream"'
