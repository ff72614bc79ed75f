"""A real webhook receiver for tests: an aiohttp server on a free loopback port that
verifies each delivery the way docs/integration.md tells receivers to."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from core.integration import signature


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    event: dict[str, Any]


@dataclass
class Receiver:
    """Accepts genuine, fresh, unseen deliveries (2xx); refuses the rest (400 or 409);
    answers 503 while `down`."""

    now: Callable[[], float]
    secret: str = ""
    down: bool = False
    accepted: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    hits: int = 0
    seen: set[str] = field(default_factory=set)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        body = await request.read()
        if self.down:
            return web.Response(status=503, text="maintenance")
        try:
            event_id = signature.verify(self.secret, request.headers, body, now=self.now())
        except signature.InvalidSignature as exc:
            self.refused.append(str(exc))
            return web.Response(status=400, text=str(exc))
        if event_id in self.seen:  # a replay inside the window: already processed
            self.refused.append("replayed id")
            return web.Response(status=409, text="already processed")
        self.seen.add(event_id)
        self.accepted.append(Received(dict(request.headers), body, json.loads(body)))
        return web.Response(text="ok")

    def types(self) -> list[str]:
        return [r.event["type"] for r in self.accepted]


async def start_receiver(aiohttp_server, now: Callable[[], float]) -> Receiver:  # type: ignore[no-untyped-def]
    receiver = Receiver(now=now)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app)
    receiver.url = str(server.make_url("/hook"))
    return receiver
