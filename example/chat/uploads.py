"""Image upload validation without Pillow: recognise the format by its magic bytes."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile

# (extension, magic bytes, offset of the magic bytes)
_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("png", b"\x89PNG\r\n\x1a\n", 0),
    ("jpg", b"\xff\xd8\xff", 0),
    ("gif", b"GIF87a", 0),
    ("gif", b"GIF89a", 0),
)
SNIFF_BYTES = 16


class UploadRejected(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def sniff_image_type(head: bytes) -> str | None:
    """Return the file extension for a PNG, JPEG, GIF or WebP header, else None."""
    for ext, magic, offset in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return ext
    # WebP: a RIFF container whose form type is "WEBP".
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def validate_image(upload: UploadedFile, max_bytes: int) -> str:
    """Check size and format; return the extension to store the file under."""
    if upload.size is None or upload.size == 0:
        raise UploadRejected("empty file")
    if upload.size > max_bytes:
        raise UploadRejected(f"file too large (limit {max_bytes} bytes)", status=413)
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    ext = sniff_image_type(head)
    if ext is None:
        raise UploadRejected("not a PNG, JPEG, GIF or WebP image")
    return ext
