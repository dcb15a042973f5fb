"""investigators."""
