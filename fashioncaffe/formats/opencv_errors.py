"""OpenCV's decoding failures as readable errors.

``cv2.imread`` / ``cv2.imdecode`` raise ``cv2.error`` with a raw assertion text (``(-215:Assertion
failed) pixels <= CV_IO_MAX_IMAGE_PIXELS in function 'validateInputImageSize'``) when an image's
header claims a size over OpenCV's limits: a damaged file, or one crafted to claim gigapixels.
:func:`opencv_decoding` turns that into one paragraph naming the file, the size its header claims
(read from PNG / JPEG headers) and the limit with the environment variable that raises it.
"""
from __future__ import annotations

import contextlib
import os
import struct

from ..errors import fail

__all__ = ["opencv_decoding", "header_size"]

# OpenCV's defaults (modules/imgcodecs/src/loadsave.cpp), each overridable by its environment variable
_LIMITS = (("OPENCV_IO_MAX_IMAGE_PIXELS", 1 << 30, "pixels"), ("OPENCV_IO_MAX_IMAGE_WIDTH", 1 << 20, "width"),
           ("OPENCV_IO_MAX_IMAGE_HEIGHT", 1 << 20, "height"))


def header_size(head: bytes):
    """(width, height) a PNG or JPEG header claims, None for other or damaged data."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24 and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:2] == b"\xff\xd8":
        i = 2
        while i + 9 <= len(head) and head[i] == 0xFF:
            marker, length = head[i + 1], struct.unpack(">H", head[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):   # a start-of-frame segment
                h, w = struct.unpack(">HH", head[i + 5:i + 9])
                return w, h
            i += 2 + length
    return None


def _head(source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:65536])
    if hasattr(source, "tobytes"):   # a numpy buffer
        return source[:65536].tobytes()
    try:
        with open(source, "rb") as f:
            return f.read(65536)
    except OSError:
        return b""


def _limits() -> str:
    parts = []
    for env, default, what in _LIMITS:
        value = os.environ.get(env, str(default))
        parts.append(f"{what} <= {value} ({env})")
    return ", ".join(parts)


@contextlib.contextmanager
def opencv_decoding(what: str, source=None):
    """Run an OpenCV decode; a ``cv2.error`` becomes a FashionCaffeError naming ``what``.  ``source``
    (the file's path or its bytes) lets the message quote the size the header claims."""
    import cv2

    try:
        yield
    except cv2.error as e:
        text = str(e)
        size = header_size(_head(source)) if source is not None else None
        claimed = f" ({size[0]} x {size[1]} = {size[0] * size[1]} pixels)" if size else ""
        if "validateInputImageSize" in text or "CV_IO_MAX_IMAGE" in text:
            raise fail(f"{what}: the image header claims a size{claimed} over OpenCV's decoding limits: "
                       f"{_limits()}. The file is damaged or is not the image it claims to be; if it really "
                       "is that large, raise the limit by setting the environment variable before starting, "
                       "or shrink the image.") from None
        detail = text.strip().splitlines()[-1] if text.strip() else type(e).__name__
        raise fail(f"{what}: OpenCV cannot decode this image{claimed}: {detail}") from None
