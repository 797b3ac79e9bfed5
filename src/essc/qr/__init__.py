"""Dynamic QR codes (扫码办事): online codes shown by holders and resolved by terminals; usage history."""
