"""Detect truncated zstd streams.

zstandard's stream_reader reports a stream cut mid-frame as a clean EOF, so a
truncated blob would look like a short layer. This pass-through walks the frame
layout (headers and block sizes only, no decoding) of the compressed bytes as
the decompressor reads them, and raises CorruptArchive if the input ends inside
a frame. Cost is a few Python steps per block (blocks are <= 128 KiB)."""

import io

from engine.errors import CorruptArchive

_MAGIC = 0xFD2FB528
_SKIPPABLE = range(0x184D2A50, 0x184D2A60)
_MAX_BLOCK = 128 * 1024
_DID_SIZE = (0, 1, 2, 4)
_FCS_SIZE = (0, 2, 4, 8)


class FrameChecker(io.RawIOBase):
    """Readable wrapper over a zstd stream that fails on EOF inside a frame."""

    def __init__(self, raw):
        super().__init__()
        self._raw = raw
        self._state = "magic"  # what the next `_need` header bytes are
        self._need = 4
        self._buf = bytearray()
        self._skip = 0  # payload bytes to pass over before the next header
        self._checksum = False
        self.frames = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read() if n is None or n < 0 else self._raw.read(n)
        if data:
            self._feed(data)
        elif n != 0:
            self._finish()
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        if self._state != "magic" or self._buf or self._skip:
            raise CorruptArchive(
                "layer blob is truncated: the zstd stream ends in the middle of a frame"
            )

    def _feed(self, data: bytes) -> None:
        view = memoryview(data)
        i, n = 0, len(view)
        while i < n:
            if self._skip:
                take = min(self._skip, n - i)
                self._skip -= take
                i += take
                continue
            take = min(self._need - len(self._buf), n - i)
            self._buf += view[i : i + take]
            i += take
            if len(self._buf) == self._need:
                header = int.from_bytes(self._buf, "little")
                self._buf.clear()
                self._step(header)

    def _step(self, h: int) -> None:
        state = self._state
        if state == "block":
            size, btype = h >> 3, (h >> 1) & 3
            if btype == 3 or size > _MAX_BLOCK:
                raise CorruptArchive("layer blob is corrupt: invalid zstd block header")
            self._skip = 1 if btype == 1 else size  # RLE blocks carry one byte
            if h & 1:  # last block of the frame
                self._skip += 4 if self._checksum else 0
                self._state, self._need = "magic", 4
                self.frames += 1
        elif state == "magic":
            if h == _MAGIC:
                self._state, self._need = "descriptor", 1
            elif h in _SKIPPABLE:
                self._state, self._need = "skiplen", 4
            else:
                raise CorruptArchive("layer blob is corrupt: data after the zstd frames")
        elif state == "descriptor":
            if h & 0x08:
                raise CorruptArchive("layer blob is corrupt: invalid zstd frame header")
            single = (h >> 5) & 1
            fcs = _FCS_SIZE[h >> 6] or single  # single-segment frames always carry 1 byte
            self._checksum = bool(h & 0x04)
            self._skip = (0 if single else 1) + _DID_SIZE[h & 3] + fcs
            self._state, self._need = "block", 3
        else:  # skiplen: a skippable frame's payload size
            self._skip = h
            self._state, self._need = "magic", 4
