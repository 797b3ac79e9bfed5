"""QR images: render a payload as PNG or SVG (segno); read every QR code in a picture (Pillow, zxing-cpp).

An SVG (what the platform serves beside the PNG) is first drawn by resvg, at a fixed size so a hostile file
cannot ask for gigapixels, and without the files or fonts of the machine it runs on.
"""

from __future__ import annotations

import io
import warnings
from typing import Final

import resvg_py
import segno
import zxingcpp
from PIL import Image

from essc.kit.errors import InvalidInput

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "UnreadableImage",
    "UnrenderablePayload",
    "decode_image",
    "qr_png",
    "qr_svg",
]

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MAX_IMAGE_PIXELS: Final = (
    40_000_000  # a 4K screenshot is 8.3 Mpx; beyond this decoding is a denial of service
)
_MAX_SCALE: Final = 64
_BORDER: Final = 4  # the quiet zone ISO/IEC 18004 asks for
_QR_ONLY: Final = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
# An SVG is drawn this many pixels a side: a QR code of the largest version (177 modules) gets 5 a module.
_SVG_PIXELS: Final = 1024


class UnreadableImage(InvalidInput):
    status = 400
    code = "unreadable_image"
    title = "The file is not an image that can be read"


class UnrenderablePayload(InvalidInput):
    code = "unrenderable_payload"
    title = "The payload cannot be drawn as an alphanumeric QR code"


def _symbol(payload: str, scale: int) -> segno.QRCode:
    if not isinstance(scale, int) or not 1 <= scale <= _MAX_SCALE:
        raise UnrenderablePayload(f"scale must be 1..{_MAX_SCALE} pixels a module")
    try:
        # Alphanumeric mode and level M, as the code rules fix them; no boost, so the level never changes.
        return segno.make_qr(payload, error="m", mode="alphanumeric", boost_error=False)
    except (ValueError, segno.DataOverflowError) as exc:
        raise UnrenderablePayload(
            "a payload is 1..1024 characters of 0-9, A-Z, space and $%*+-./: (QR alphanumeric mode)"
        ) from exc


def qr_png(payload: str, scale: int = 6) -> bytes:
    """PNG of payload as a QR code, error correction M, alphanumeric mode, scale pixels a module."""
    out = io.BytesIO()
    _symbol(payload, scale).save(out, kind="png", scale=scale, border=_BORDER)
    return out.getvalue()


def qr_svg(payload: str, scale: int = 6) -> str:
    """SVG document (no XML declaration, so it also embeds in HTML) of payload as a QR code."""
    out = io.BytesIO()
    _symbol(payload, scale).save(out, kind="svg", scale=scale, border=_BORDER, xmldecl=False)
    return out.getvalue().decode("utf-8")


def _is_svg(data: bytes) -> bool:
    head = bytes(data[:512]).lstrip()
    return head.startswith((b"<svg", b"<?xml")) and b"<svg" in bytes(data[:4096])


def _drawn_svg(data: bytes) -> bytes:
    """PNG of an SVG document, drawn _SVG_PIXELS a side on white; UnreadableImage if it is not one."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableImage("an SVG image is UTF-8 text") from exc
    if "href" in text:  # a QR code needs no linked image or font; nothing on this machine is read
        raise UnreadableImage("an SVG QR code links nothing (no href)")
    try:
        return bytes(
            resvg_py.svg_to_bytes(
                svg_string=text,
                background="#ffffff",
                skip_system_fonts=True,
                width=_SVG_PIXELS,
                height=_SVG_PIXELS,
            )
        )
    except Exception as exc:  # resvg reports every malformed document as a plain exception
        raise UnreadableImage("the SVG image could not be drawn") from exc


def _open(data: bytes) -> Image.Image:
    if not isinstance(data, bytes | bytearray | memoryview) or not data:
        raise UnreadableImage("an image is a non-empty byte string")
    if len(data) > MAX_IMAGE_BYTES:
        raise UnreadableImage(f"an image is at most {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
    if _is_svg(data):
        data = _drawn_svg(data)
    too_big = UnreadableImage(f"an image has 1..{MAX_IMAGE_PIXELS:,} pixels")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own limit and twice that; our lower limit decides first anyway.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS or width < 1 or height < 1:
                raise too_big
            image.load()
            return image.convert("L")
    except UnreadableImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise too_big from exc
    # Pillow's decoders raise many kinds of exception on hostile files (OSError, ValueError, SyntaxError,
    # struct.error, EOFError, DecompressionBombError, ...); all mean "not an image we can read".
    except Exception as exc:
        raise UnreadableImage("the file is not a readable image") from exc


def decode_image(data: bytes) -> list[str]:
    """The text of every QR code found in an image file (PNG, SVG, JPEG, GIF, BMP, WebP...)."""
    image = _open(data)
    try:
        barcodes = zxingcpp.read_barcodes(image, formats=_QR_ONLY)
    except Exception as exc:  # the native reader signals odd inputs with plain exceptions
        raise UnreadableImage("the image could not be scanned") from exc
    return [barcode.text for barcode in barcodes if barcode.valid]
