"""Sending a webhook: rendering for one user, Braze's retry rules, the Message Activity Log and Currents."""
