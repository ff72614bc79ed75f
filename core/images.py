"""What Pillow raises on broken or hostile images, in one place.

An unknown format (UnidentifiedImageError), a truncated file (OSError), an oversized
zTXt/iTXt/iCCP chunk (ValueError: "Decompressed data too large"), a decompression bomb,
malformed headers (SyntaxError, struct.error, EOFError). Every decoder of an upload
(signatures, seals, licences, authorisation letters, stamps) catches all of them and
answers with a 4xx.
"""

from __future__ import annotations

import struct

from PIL import Image, UnidentifiedImageError

IMAGE_ERRORS: tuple[type[BaseException], ...] = (
    UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error,
    Image.DecompressionBombError, Image.DecompressionBombWarning,
)
