"""Repositories: small classes that take an AsyncSession and speak in models and plain values."""
