"""QR images: render, then read back, including from screenshot-like pictures; unreadable input is named."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import struct
import time
import zlib

import pytest
import segno
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from essc.kit import qrimage
from essc.kit.codes import CodeKind, new_token_code, offline_payload
from essc.kit.crypto import get_suite
from essc.kit.offline import issue_certificate, make_offline_code
from essc.kit.qrimage import (
    MAX_IMAGE_PIXELS,
    UnreadableImage,
    UnrenderablePayload,
    decode_image,
    qr_png,
    qr_svg,
)

T0 = 1_800_000_000


def offline_sample() -> str:
    suite = get_suite("sm")
    platform, device = suite.generate_private_key(), suite.generate_private_key()
    certificate = issue_certificate(
        suite, lambda m: suite.sign(platform, m), "platform-2026", device.public_key(), "44", T0, 86_400
    )
    return make_offline_code(suite, device, certificate, T0, 1, "01")


@pytest.fixture(scope="module", params=["online", "login", "offline"])
def payload(request: pytest.FixtureRequest) -> str:
    if request.param == "offline":
        return offline_sample()
    kind = CodeKind.ONLINE if request.param == "online" else CodeKind.LOGIN
    return new_token_code(kind)[0]


def png_bytes(image: Image.Image, kind: str = "PNG", **options: int) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def rasterise_segno_svg(svg: str) -> bytes:
    """PNG of a segno SVG, drawn from its single path of unit-high horizontal strokes (test-only reader)."""
    size = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    scale = int(re.search(r'transform="scale\((\d+)\)"', svg).group(1))  # type: ignore[union-attr]
    path = re.search(r' d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHhVv])([-\d. ]+)", path):
        values = [float(v) for v in numbers.split()]
        if command in "Mm":
            x, y = (values[0], values[1]) if command == "M" else (x + values[0], y + values[1])
        elif command in "Hh":
            end = values[0] if command == "H" else x + values[0]
            top = (y - 0.5) * scale
            draw.rectangle([x * scale, top, end * scale - 1, top + scale - 1], fill=0)
            x = end
        else:
            raise AssertionError(f"unexpected SVG path command {command}")
    return png_bytes(image)


def test_png_round_trip(payload: str) -> None:
    png = qr_png(payload)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode_image(png) == [payload]


def test_png_is_level_m_alphanumeric(payload: str) -> None:
    image = Image.open(io.BytesIO(qr_png(payload, scale=2)))
    (barcode,) = zxingcpp.read_barcodes(image.convert("L"))
    assert barcode.ec_level == "M"
    # Alphanumeric mode: a 32-character token code fits a version 3 symbol (29 modules + 2 x 4 quiet zone).
    if not payload.startswith("ESSC:2:"):
        assert image.size == ((29 + 8) * 2, (29 + 8) * 2)


@pytest.mark.parametrize("scale", [1, 3, 10])
def test_png_scales(scale: int) -> None:
    payload, _ = new_token_code(CodeKind.ONLINE)
    image = Image.open(io.BytesIO(qr_png(payload, scale=scale)))
    assert image.size == ((29 + 8) * scale,) * 2
    if scale > 1:
        assert decode_image(qr_png(payload, scale=scale)) == [payload]


def test_svg_round_trip(payload: str) -> None:
    svg = qr_svg(payload)
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert decode_image(rasterise_segno_svg(svg)) == [payload]
    assert decode_image(svg.encode()) == [payload]  # the SVG itself, as a terminal receives it


def test_an_svg_is_drawn_at_a_fixed_size_without_reading_anything_it_links() -> None:
    payload = new_token_code(CodeKind.ONLINE)[0]
    assert decode_image(qr_svg(payload).encode()) == [payload]
    # Declared a million pixels a side (a terapixel): drawn at 1024 a side all the same, in no time.
    huge = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="1000000" height="1000000">'
        b'<rect width="9" height="9"/></svg>'
    )
    started = time.monotonic()
    assert decode_image(huge) == []
    assert time.monotonic() - started < 5
    empty = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    assert decode_image(empty) == []
    linked = b'<svg xmlns="http://www.w3.org/2000/svg"><image href="/etc/hostname"/></svg>'
    with pytest.raises(UnreadableImage, match="href"):
        decode_image(linked)


def test_screenshot_like_image(payload: str) -> None:
    """The code as a phone shows it: on a grey card, beside other things, scaled down and JPEG-compressed."""
    code = Image.open(io.BytesIO(qr_png(payload, scale=6))).convert("RGB")
    screen = Image.new("RGB", (1080, 1920), (232, 232, 236))
    draw = ImageDraw.Draw(screen)
    draw.rectangle([0, 0, 1080, 180], fill=(30, 90, 200))
    draw.rectangle([90, 300, 990, 1400], fill=(255, 255, 255))
    draw.text((120, 1450), "ESSC 44 | refreshes every 60 s", fill=(60, 60, 60))
    for y in range(1500, 1900, 60):
        draw.rectangle([90, y, 990, y + 40], fill=(210, 210, 215))
    screen.paste(code, ((1080 - code.width) // 2, 320))
    shrunk = screen.resize((810, 1440), Image.Resampling.BILINEAR)
    assert decode_image(png_bytes(shrunk)) == [payload]
    assert decode_image(png_bytes(shrunk, "JPEG", quality=80)) == [payload]
    grown = screen.resize((1440, 2560), Image.Resampling.BICUBIC)
    assert decode_image(png_bytes(grown, "WEBP", quality=90)) == [payload]


def test_several_codes_in_one_picture() -> None:
    payloads = [new_token_code(CodeKind.ONLINE)[0], new_token_code(CodeKind.LOGIN)[0]]
    canvas = Image.new("L", (800, 400), 200)
    for i, text in enumerate(payloads):
        canvas.paste(Image.open(io.BytesIO(qr_png(text, scale=6))), (40 + i * 400, 60))
    assert sorted(decode_image(png_bytes(canvas))) == sorted(payloads)


def test_picture_without_a_code() -> None:
    assert decode_image(png_bytes(Image.new("RGB", (200, 100), (255, 255, 255)))) == []


def _png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (the pixels never decode)."""
    png = png_bytes(Image.new("L", (1, 1), 255))
    ihdr = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:8] + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"GIF89a\xff\xff\xff\xff",
        b"\xff\xd8\xff\xe0" + b"\x00" * 32,
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M0 0',
        bytes(range(256)) * 4,
    ],
    ids=["empty", "text", "png-garbage", "gif-garbage", "jpeg-garbage", "svg", "binary"],
)
def test_unreadable_files(data: bytes) -> None:
    with pytest.raises(UnreadableImage) as info:
        decode_image(data)
    assert (info.value.code, info.value.status) == ("unreadable_image", 400)


def test_truncated_png(payload: str) -> None:
    png = qr_png(payload)
    for cut in (8, len(png) // 3, 2 * len(png) // 3):
        with pytest.raises(UnreadableImage):
            decode_image(png[:cut])


def test_oversized_pictures_are_refused_before_decoding() -> None:
    for width in (7_000, 20_000):  # above our limit; the second above Pillow's own bomb limit too
        with pytest.raises(UnreadableImage, match="pixels"):
            decode_image(_png_with_size(width, width))
    assert MAX_IMAGE_PIXELS < 7_000 * 7_000
    with pytest.raises(UnreadableImage, match="MiB"):
        decode_image(b"\x00" * (21 * 1024 * 1024))
    with pytest.raises(UnreadableImage):
        decode_image("text")  # type: ignore[arg-type]


def test_unrenderable_payloads() -> None:
    for text in ["essc:1:lowercase", "ESSC:1:É", "A" * 5000, ""]:
        with pytest.raises(UnrenderablePayload):
            qr_png(text)
        with pytest.raises(UnrenderablePayload):
            qr_svg(text)
    for scale in (0, 65):
        with pytest.raises(UnrenderablePayload, match="scale"):
            qr_png("ESSC", scale=scale)
    assert decode_image(qr_png(offline_payload(bytes(600)), scale=2)) == [offline_payload(bytes(600))]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(UnreadableImage):
        assert isinstance(decode_image(data), list)


FUZZ_PAYLOAD = new_token_code(CodeKind.ONLINE)[0]


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_fuzz_mutated_svg(data: st.DataObject) -> None:
    svg = bytearray(qr_svg(FUZZ_PAYLOAD).encode())
    for _ in range(data.draw(st.integers(1, 6))):
        svg[data.draw(st.integers(0, len(svg) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(UnreadableImage):
        assert isinstance(decode_image(bytes(svg)), list)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_mutated_png(data: st.DataObject) -> None:
    png = bytearray(qr_png(FUZZ_PAYLOAD, scale=2))
    for _ in range(data.draw(st.integers(1, 6))):
        png[data.draw(st.integers(0, len(png) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(UnreadableImage):
        assert isinstance(decode_image(bytes(png)), list)


# -- the data mask, chosen here rather than by segno --------------------------------------------------------

ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def segno_rows(text: str, mask: int) -> list[int]:
    """segno's own symbol of text under a given mask, as row ints (bit size-1-c is column c)."""
    matrix = segno.make_qr(text, error="m", mode="alphanumeric", boost_error=False, mask=mask).matrix
    return [int("".join(str(bit) for bit in row), 2) for row in matrix]


def reference_penalty(rows: list[str]) -> int:
    """ISO/IEC 18004 7.8.3.1 module by module (slow and plain), outside the symbol counting as light."""
    size = len(rows)
    lines = rows + ["".join(row[c] for row in rows) for c in range(size)]
    score = 0
    for line in lines:
        run = 1
        for a, b in itertools.pairwise(line):
            if a == b:
                run += 1
                continue
            score += run - 2 if run >= 5 else 0
            run = 1
        score += run - 2 if run >= 5 else 0
        padded = "0000" + line + "0000"
        for start in range(len(padded) - 10):
            window = padded[start : start + 11]
            score += 40 * (window == "00001011101") + 40 * (window == "10111010000")
    for r in range(size - 1):
        for c in range(size - 1):
            block = {rows[r][c], rows[r][c + 1], rows[r + 1][c], rows[r + 1][c + 1]}
            score += 3 * (len(block) == 1)
    deviation = abs(sum(row.count("1") for row in rows) * 100 / (size * size) - 50)
    score += 10 * sum(1 for step in range(5, 55, 5) if deviation > step)  # 10 a 5% step beyond 45-55%
    return score


@settings(max_examples=25, deadline=None)
@given(st.text(ALPHANUMERIC, min_size=1, max_size=400))
def test_each_mask_candidate_is_segnos_symbol_under_that_mask(text: str) -> None:
    candidates = qrimage._candidates(text)
    assert candidates == [segno_rows(text, mask) for mask in range(8)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2**21 - 1), min_size=21, max_size=21))
def test_the_penalty_is_the_module_by_module_score(rows: list[int]) -> None:
    assert qrimage._penalty(rows, 21) == reference_penalty([format(row, "021b") for row in rows])


def test_the_symbol_drawn_has_the_lowest_penalty_and_is_segnos_svg_of_it() -> None:
    for text in [new_token_code(CodeKind.LOGIN)[0] for _ in range(5)] + [offline_sample()]:
        rows = qrimage._modules(text)
        size = len(rows)
        scores = [qrimage._penalty(candidate, size) for candidate in qrimage._candidates(text)]
        mask = qrimage._mask_of(rows)
        assert scores[mask] == min(scores)
        assert mask == scores.index(min(scores))
        out = io.BytesIO()
        segno.make_qr(text, error="m", mode="alphanumeric", boost_error=False, mask=mask).save(
            out, kind="svg", scale=6, border=4, xmldecl=False
        )
        assert qr_svg(text) == out.getvalue().decode()
        assert decode_image(qr_svg(text).encode()) == [text]
        assert decode_image(qr_png(text)) == [text]
