"""The request layer above the domains: the protocol layer, the app factory and its wiring."""
