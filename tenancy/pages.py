"""The login page (``/accounts/login/``), with the same limit on failed attempts as
``POST /api/auth/token``: guessing passwords through the form is no cheaper than through
the API."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from .rate_limits import failures_blocked, login_limits


class LoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        retry_after = failures_blocked(login_limits(request.META.get("REMOTE_ADDR"),
                                                    request.POST.get("username", "")))
        if retry_after is not None:  # the password is not even checked
            response = self.render_to_response(self.get_context_data(
                form=self.form_class(request), refused=f"Too many failed attempts: try again "
                                                       f"in {retry_after} s."), status=429)
            response["Retry-After"] = str(retry_after)
            return response
        return super().post(request, *args, **kwargs)  # a failure is counted by the backend
