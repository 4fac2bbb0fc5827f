"""Outbound webhooks: subscriptions, Standard Webhooks signing, delivery, the SSRF guard."""
