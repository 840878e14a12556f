"""Test doubles that replace Microsoft Teams at the HTTP boundary."""
