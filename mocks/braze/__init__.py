"""A strict fake of Braze: REST API, users, segments, Liquid, webhook templates, campaigns, canvases."""
