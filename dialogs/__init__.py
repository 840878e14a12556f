"""Conversations: one ComponentDialog per journey."""
