"""Renders templates and sends what the outbox holds. Never decides whether to send."""
