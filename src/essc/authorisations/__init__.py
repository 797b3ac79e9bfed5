"""Deny-by-default authorisation of channels: grants per province or national, business items per province."""
