from django.urls import path

from . import views

urlpatterns = [
    path("token", views.TokenView.as_view(), name="auth-token"),
    path("token/refresh", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
]
