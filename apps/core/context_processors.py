"""What every template may use, whatever the page: the product's name."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def branding(request: HttpRequest) -> dict[str, str]:
    """``product_name``: ``PRODUCT_NAME``, in page titles and the header."""
    return {"product_name": settings.PRODUCT_NAME}
