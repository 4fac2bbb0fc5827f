"""Writes of the conversations app: workflow, assignment, messages, ingest, library."""
