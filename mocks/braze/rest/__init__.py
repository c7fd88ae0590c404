"""Braze's REST surface: API keys and permissions, the error table, the REST and admin blueprints."""
