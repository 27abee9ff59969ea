"""Who is calling and what they may do: roles, scopes, API keys and personnel tokens."""
