"""Identity: users, passwords, sessions and sign-in (global: one person, many workspaces)."""
