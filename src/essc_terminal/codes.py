"""Reading a code from what a terminal has: the scanner's text or a picture (photo, screenshot, file)."""

from __future__ import annotations

from pathlib import Path

from essc.kit.codes import PREFIX, MalformedCode, ParsedCode, parse_code
from essc.kit.qrimage import MAX_IMAGE_BYTES, UnreadableImage, decode_image
from essc_terminal.errors import UnreadableCode

__all__ = ["parse", "read_code"]


def parse(text: str) -> ParsedCode:
    """essc.kit.codes.parse_code with its refusal as an UnreadableCode."""
    try:
        return parse_code(text)
    except MalformedCode as exc:
        raise UnreadableCode(exc.detail, code=exc.code) from exc


def _looks_like_payload(text: str) -> bool:
    return text.strip().upper().startswith(f"{PREFIX}:")


def read_code(source: str | Path) -> str:
    """The canonical payload of the one code in source: payload text, or the path of an image file."""
    if isinstance(source, str) and _looks_like_payload(source):
        return parse(source).payload()
    path = Path(source)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long or with a NUL byte is no file either
        is_file = False
    if not is_file:
        raise UnreadableCode(f"{str(source)[:64]!r} is neither a code payload (ESSC:...) nor an image file")
    with path.open("rb") as image:
        # Reading one byte past the limit is enough to refuse a huge file without loading it.
        data = image.read(MAX_IMAGE_BYTES + 1)
    try:
        texts = decode_image(data)
    except UnreadableImage as exc:
        raise UnreadableCode(f"{path.name}: {exc.detail}", code=exc.code) from exc
    return _one_code(path.name, texts)


def _one_code(name: str, texts: list[str]) -> str:
    """The single essc code among the QR codes of a picture; other QR codes (links, adverts) are ignored."""
    payloads = sorted({parse(text).payload() for text in texts if _looks_like_payload(text)})
    if len(payloads) == 1:
        return payloads[0]
    if payloads:
        raise UnreadableCode(
            f"{name} shows {len(payloads)} different essc codes; scan one code at a time",
            code="several_codes",
        )
    others = f" (only {len(texts)} other QR code{'s' if len(texts) != 1 else ''})" if texts else ""
    raise UnreadableCode(f"no essc code found in {name}{others}", code="no_code_found")
