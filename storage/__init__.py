"""Database models, repositories and migrations. Knows nothing of Teams or botbuilder."""
