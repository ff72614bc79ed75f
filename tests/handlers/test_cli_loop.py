"""`laborsign serve` picks its event loop from [server] event_loop."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from handlers.cli import _event_loop


def test_uvloop_by_default_and_asyncio_on_request() -> None:
    fast, plain = _event_loop("uvloop"), _event_loop("asyncio")
    try:
        assert isinstance(fast, uvloop.Loop)
        assert not isinstance(plain, uvloop.Loop)
        assert isinstance(plain, asyncio.AbstractEventLoop)
    finally:
        fast.close()
        plain.close()


def test_unknown_loop_is_refused() -> None:
    with pytest.raises(SystemExit):
        _event_loop("twisted")
