"""Who a raw ASGI request is, for the streams (which run outside Django's middleware): the user
of a Django session cookie, or of a login JWT."""

from __future__ import annotations

import hmac
from http.cookies import CookieError, SimpleCookie
from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model


def session_user(cookie_header: str | None, *, staff: bool = False):
    """The active user (staff only with ``staff``) whose Django session the request carries,
    or None."""
    if not cookie_header:
        return None
    try:
        cookies = SimpleCookie(cookie_header)
    except CookieError:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(morsel.value)
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return None
    users = get_user_model().objects.filter(pk=user_id, is_active=True)
    if staff:
        users = users.filter(is_staff=True)
    user = users.first()
    if user is None or not hmac.compare_digest(session.get(HASH_SESSION_KEY, ""),
                                               user.get_session_auth_hash()):
        return None  # the password changed since: the session is over
    return user
