"""Campaigns and Canvases: their definitions, engines, conversions and the REST endpoints that trigger them."""
