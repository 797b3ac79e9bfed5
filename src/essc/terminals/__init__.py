"""Institutions (受理机构) and their terminals: registration, busiType grants, what each may learn."""
