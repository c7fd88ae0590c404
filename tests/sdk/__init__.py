"""Tests of sdk: Sendbird's official JavaScript SDK against the live stack."""
