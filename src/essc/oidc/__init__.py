"""Quick login for relying parties: an OpenID Connect provider (PAR, PKCE, private_key_jwt, pairwise sub)."""
