"""Writes of the crm app. Every change of state in the workspace goes through here."""
