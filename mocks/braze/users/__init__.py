"""User profiles and what writes or reads them: /users/track, export and delete, CSV import, value
rules, event counts."""
