"""Floor 0: settings, clients, keys, clock, errors, tokens. Imports nothing of the project."""
