"""Electronic service credentials (电子办事凭证): SD-JWT VCs of a holder's e-card identity, status lists."""
