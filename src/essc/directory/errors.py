"""Why the public list of channel apps could not be given."""

from __future__ import annotations

from essc.kit.errors import NotFound


class UnknownProvince(NotFound):
    code = "unknown_province"
    title = "Not a GB/T 2260 province code"
