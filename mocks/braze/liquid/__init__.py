"""Braze's dialect of Liquid (Ruby Liquid 5 semantics on python-liquid), filters and Connected Content."""
