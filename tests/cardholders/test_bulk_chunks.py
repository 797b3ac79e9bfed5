"""The import's batches of lines: cut from large blocks, exactly as reading line by line would cut them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from essc.cardholders import bulk
from essc.cardholders.bulk import Chunk, split_lines


def _by_readline(path: Path, fmt: str, size: int, start: int, line: int, batch_no: int) -> list[Chunk]:
    """The batches as the importer cut them before: readline, one line at a time."""
    chunks = []
    with path.open("rb") as handle:
        handle.seek(start)
        if start == 0 and fmt == "csv":
            handle.readline()
            line = 1
        while True:
            lines: list[tuple[int, bytes]] = []
            while len(lines) < size and (raw := handle.readline()):
                line += 1
                lines.append((line, raw))
            if not lines:
                return chunks
            data = b"".join(raw for _, raw in lines)
            chunks.append(Chunk(batch_no, data, lines[0][0], line, handle.tell()))
            assert split_lines(lines[0][0], data) == lines
            batch_no += 1


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=40),
    newline_at_end=st.booleans(),
    fmt=st.sampled_from(["csv", "ndjson"]),
    size=st.integers(1, 7),
    skip=st.integers(0, 10),
    block=st.sampled_from([1, 3, 64, 1 << 22]),
)
def test_batches_are_cut_as_readline_cuts_them(
    lines: list[bytes], newline_at_end: bool, fmt: str, size: int, skip: int, block: int
) -> None:
    data = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "holders"
        path.write_bytes(data)
        # A resumed run starts after a committed batch: at a line's end, with that line's number.
        ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
        start = ends[skip - 1] if 0 < skip <= len(ends) else 0
        line = ends.index(start) + 1 if start else 0
        bulk._READ_BLOCK, saved = block, bulk._READ_BLOCK
        try:
            cut = list(bulk._chunks(path, fmt, size, start=start, line=line, batch_no=5))  # type: ignore[arg-type]
        finally:
            bulk._READ_BLOCK = saved
        assert cut == _by_readline(path, fmt, size, start, line, 5)
