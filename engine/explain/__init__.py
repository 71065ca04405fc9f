"""Sentences from the facts: the one renderer of gates, criteria and grants from a trace."""
