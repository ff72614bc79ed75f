"""Conversation flows: small classes with step_* methods (see base.py)."""
