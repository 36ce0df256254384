from django.urls import path

from apps.billing import views

app_name = "billing"

urlpatterns = [
    path("t/<slug:slug>/billing/", views.billing, name="billing"),
    path("t/<slug:slug>/billing/checkout/", views.checkout, name="checkout"),
    path("t/<slug:slug>/billing/checkout/done/", views.checkout_done, name="checkout_done"),
    path("t/<slug:slug>/billing/portal/", views.portal, name="portal"),
    path("billing/webhooks/stripe/", views.stripe_webhook, name="stripe_webhook"),
]
