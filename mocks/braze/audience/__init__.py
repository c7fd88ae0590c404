"""Who a message goes to: the connected-audience filter language, saved segments, event property filters."""
