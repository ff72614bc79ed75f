"""The field cipher travels to the process pool intact (pickling keeps both keys)."""

from __future__ import annotations

import pickle

from core.crypto import FieldCipher


def test_field_cipher_survives_pickling() -> None:
    original = FieldCipher(b"k" * 32, b"l" * 32)
    copy = pickle.loads(pickle.dumps(original))
    token = copy.encrypt("110101199003071234")
    assert original.decrypt(token) == "110101199003071234"
    assert copy.lookup_hash("x") == original.lookup_hash("x")
    assert copy.lookup_hash("x") != FieldCipher(b"k" * 32, b"m" * 32).lookup_hash("x")
