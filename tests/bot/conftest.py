from __future__ import annotations

import pytest

from tests.bot.wx import FakeWechat


@pytest.fixture
def wx(client, config) -> FakeWechat:
    return FakeWechat(client, config)
