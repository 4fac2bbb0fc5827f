"""Writes of the integrations app: brand accounts, the raw inbound store, processing."""
