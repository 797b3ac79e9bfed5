"""QR images: render a payload as PNG or SVG (segno); read every QR code in a picture (Pillow, zxing-cpp).

An SVG (what the platform serves beside the PNG) is first drawn by resvg, at a fixed size so a hostile file
cannot ask for gigapixels, and without the files or fonts of the machine it runs on.

The data mask is chosen here, not by segno: segno scores its eight candidates module by module in Python (most
of the ~4 ms a login page's code cost); scoring them on rows held as ints and strings applies the same rules
(ISO/IEC 18004 7.8.3: runs, 2x2 blocks, finder-like patterns, dark balance; the format information included)
in about a third of that. segno still encodes (with mask 0, whose masking is undone here) and writes the PNG.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
import warnings
from collections.abc import Callable
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


def _check_scale(scale: int) -> None:
    if not isinstance(scale, int) or not 1 <= scale <= _MAX_SCALE:
        raise UnrenderablePayload(f"scale must be 1..{_MAX_SCALE} pixels a module")


def _symbol(payload: str, scale: int, mask: int = 0) -> segno.QRCode:
    _check_scale(scale)
    try:
        # Alphanumeric mode and level M, as the code rules fix them; no boost, so the level never changes.
        return segno.make_qr(payload, error="m", mode="alphanumeric", boost_error=False, mask=mask)
    except (ValueError, segno.DataOverflowError) as exc:
        raise UnrenderablePayload(
            "a payload is 1..1024 characters of 0-9, A-Z, space and $%*+-./: (QR alphanumeric mode)"
        ) from exc


# -- the data mask: eight candidates scored on rows held as ints (bit size-1-c is column c) -----------------

_MASKS: Final[tuple[Callable[[int, int], bool], ...]] = (
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
)
_LEVEL_M: Final = 0b00  # the format information's bits of error correction level M
_RUN: Final = re.compile(r"0{5,}|1{5,}")
# Dark, light, three dark, light, dark beside four light: neither overlaps itself, so str.count is exact.
_FINDER_LIKE: Final = ("00001011101", "10111010000")
_BITS: Final = bytes.maketrans(b"\x00\x01", b"01")


def _alignment_centres(version: int) -> list[int]:
    if version == 1:
        return []
    count = version // 7 + 2
    step = (version * 8 + count * 3 + 5) // (count * 4 - 4) * 2
    size = version * 4 + 17
    return [6, *sorted(size - 7 - k * step for k in range(count - 1))]


def _format_cells(size: int) -> list[tuple[int, int]]:
    """(row, column) of format bit 0..14 (the copy beside the top-left finder, then the other)."""
    first = [(i, 8) for i in range(6)] + [(7, 8), (8, 8), (8, 7)] + [(8, 14 - i) for i in range(9, 15)]
    second = [(8, size - 1 - i) for i in range(8)] + [(size - 15 + i, 8) for i in range(8, 15)]
    return first + second


def _format_bits(mask: int) -> int:
    data = _LEVEL_M << 3 | mask
    rest = data
    for _ in range(10):
        rest = (rest << 1) ^ ((rest >> 9) * 0x537)
    return (data << 10 | rest) ^ 0x5412


@functools.cache
def _layout(size: int) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """Per row: the format cells, and per mask its pattern over the data modules then its format bits."""
    version = (size - 17) // 4
    function = [[False] * size for _ in range(size)]

    def mark(top: int, left: int, height: int, width: int) -> None:
        for r in range(max(top, 0), min(top + height, size)):
            for c in range(max(left, 0), min(left + width, size)):
                function[r][c] = True

    mark(0, 0, 9, 9)  # finders with their separators and the format cells
    mark(0, size - 8, 9, 8)
    mark(size - 8, 0, 8, 9)
    mark(6, 0, 1, size)  # timing patterns
    mark(0, 6, size, 1)
    centres = _alignment_centres(version)
    last = len(centres) - 1
    for a, row in enumerate(centres):
        for b, column in enumerate(centres):
            if (a, b) not in ((0, 0), (0, last), (last, 0)):  # not on a finder
                mark(row - 2, column - 2, 5, 5)
    if version >= 7:  # the version information blocks
        mark(0, size - 11, 6, 3)
        mark(size - 11, 0, 3, 6)

    def as_ints(cells: list[list[bool]]) -> tuple[int, ...]:
        return tuple(sum(1 << (size - 1 - c) for c in range(size) if row[c]) for row in cells)

    format_cells = _format_cells(size)
    at = [[False] * size for _ in range(size)]
    for r, c in format_cells:
        at[r][c] = True
    masks = []
    for number, rule in enumerate(_MASKS):
        pattern = [[rule(r, c) and not function[r][c] for c in range(size)] for r in range(size)]
        bits = [[False] * size for _ in range(size)]
        value = _format_bits(number)
        for index, (r, c) in enumerate(format_cells):
            bits[r][c] = bool(value >> index % 15 & 1)
        masks.append(as_ints(pattern) + as_ints(bits))
    return as_ints(at), tuple(masks)


def _penalty(rows: list[int], size: int) -> int:
    """ISO/IEC 18004 7.8.3.1's score of a symbol: N1 runs, N2 blocks, N3 finder-like patterns, N4 balance."""
    lines = [format(row, f"0{size}b") for row in rows]
    columns = ["".join(column) for column in zip(*lines, strict=True)]
    both = "2".join(lines + columns)
    runs = _RUN.findall(both)
    score = sum(map(len, runs)) - 2 * len(runs)
    padded = "2".join(f"0000{line}0000" for line in lines + columns)
    score += 40 * sum(padded.count(pattern) for pattern in _FINDER_LIKE)
    full = (1 << size) - 1
    edge = full >> 1  # a 2x2 block starts in one of the first size-1 columns
    for upper, lower in itertools.pairwise(rows):
        dark = upper & lower & (upper >> 1) & (lower >> 1)
        light = ~(upper | lower | (upper >> 1) | (lower >> 1))
        score += 3 * ((dark | light) & edge).bit_count()
    total = size * size
    dark_modules = sum(row.bit_count() for row in rows)
    score += 10 * ((abs(dark_modules * 20 - total * 10) + total - 1) // total - 1)
    return score


def _candidates(payload: str) -> list[list[int]]:
    """The symbol's rows under each of the eight data masks, with their format information."""
    encoded = _symbol(payload, 1).matrix  # masked with pattern 0
    size = len(encoded)
    format_at, masks = _layout(size)
    unmasked = [int(bytes(row).translate(_BITS), 2) ^ masks[0][r] for r, row in enumerate(encoded)]
    return [
        [(value & ~format_at[r]) ^ mask[r] | mask[size + r] for r, value in enumerate(unmasked)]
        for mask in masks
    ]


def _modules(payload: str) -> list[str]:
    """The symbol's rows ("1" dark) under the mask of the lowest penalty (the lowest number on a tie)."""
    candidates = _candidates(payload)
    size = len(candidates[0])
    scores = [_penalty(rows, size) for rows in candidates]
    best = candidates[scores.index(min(scores))]
    return [format(row, f"0{size}b") for row in best]


def _mask_of(rows: list[str]) -> int:
    """The data mask a symbol's format information names."""
    size = len(rows)
    value = sum(int(rows[r][c]) << index for index, (r, c) in enumerate(_format_cells(size)[:15]))
    return next(number for number in range(8) if _format_bits(number) == value)


_DARK_RUN: Final = re.compile(r"1+")


def _svg(rows: list[str], scale: int) -> str:
    """segno's SVG of these rows: one path of unit-high horizontal strokes, relative moves."""
    side = (len(rows) + 2 * _BORDER) * scale
    steps: list[str] = []
    x, y = 0, 0.0
    for r, line in enumerate(rows):
        row_y = _BORDER + r + 0.5
        for run in _DARK_RUN.finditer(line):
            start, end = _BORDER + run.start(), _BORDER + run.end()
            dy = row_y - y
            shown = int(dy) if int(dy) == dy else dy
            steps.append(f"{'m' if steps else 'M'}{start - x} {shown}h{end - start}")
            x, y = end, row_y
    transform = f' transform="scale({scale})"' if scale != 1 else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" class="segno">'
        f'<path{transform} class="qrline" stroke="#000" d="{"".join(steps)}"/></svg>\n'
    )


def qr_png(payload: str, scale: int = 6) -> bytes:
    """PNG of payload as a QR code, error correction M, alphanumeric mode, scale pixels a module."""
    _check_scale(scale)
    out = io.BytesIO()
    _symbol(payload, scale, _mask_of(_modules(payload))).save(out, kind="png", scale=scale, border=_BORDER)
    return out.getvalue()


def qr_svg(payload: str, scale: int = 6) -> str:
    """SVG document (no XML declaration, so it also embeds in HTML) of payload as a QR code."""
    _check_scale(scale)
    return _svg(_modules(payload), scale)


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
