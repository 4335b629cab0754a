"""Sizes in the words people use, for error messages: "15 MiB", not "15728640 bytes". No imports: domain code,
the ASGI layer and the HTTP protocol all use it."""


def human_size(size: int) -> str:
    """``size`` (bytes) as people write it, in the largest binary unit it reaches, to one decimal at most:
    15728640 → "15 MiB", 2621440 → "2.5 MiB", 2147483648 → "2 GiB", 8192 → "8 KiB", 512 → "512 bytes"."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{round(size / scale, 1):g} {unit}"
    return f"{size} byte" if size == 1 else f"{size} bytes"


def upload_too_large_detail(kind: str, limit: int) -> str:
    """The 413 ``payload_too_large`` sentence of an upload of ``kind`` above ``limit`` bytes: "An image upload
    may be at most 15 MiB." (said the same by the ASGI guard and by `uploads.services`)."""
    article = "An" if kind[:1] in "aeiou" else "A"
    return f"{article} {kind} upload may be at most {human_size(limit)}."
