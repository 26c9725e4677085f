"""A URLconf for error-shape tests: the real API plus an endpoint that fails."""

from django.urls import path
from rest_framework.views import APIView

from config.urls import handler500  # noqa: F401  (the same error handlers)
from config.urls import urlpatterns as real


class Boom(APIView):
    permission_classes: list = []
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("kaboom")


urlpatterns = [path("api/v1/boom", Boom.as_view()), *real]
handler404 = "core.views.errors.page_not_found"
