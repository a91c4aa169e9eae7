"""Billing provider adapters: the only code that knows which provider runs.

``base.BillingProvider`` is the interface (issue a document, void it, record a payment); every
provider reports back through status events (``issued``, ``paid``, ``payment_failed``,
``voided``) stored in ``provider_events`` once per event id - a real provider's webhooks, the
embedded ``local`` provider's own writes. ``get_provider(name)`` builds one by name.
"""

from __future__ import annotations

from engine.providers.base import BillingProvider, ProviderError, ProviderResult

PROVIDERS = ("local",)


def get_provider(name: str = "local", **options) -> BillingProvider:
    if name == "local":
        from engine.providers.local import LocalProvider

        return LocalProvider(**options)
    raise ProviderError(f"unknown billing provider {name!r} (one of {', '.join(PROVIDERS)})")


__all__ = ["BillingProvider", "PROVIDERS", "ProviderError", "ProviderResult", "get_provider"]
