"""The custom menu: its definition comes from [wechat] menu_json; the bot knows its keys."""

from __future__ import annotations

import json
from typing import Any

from core.config import ConfigError
from core.context import Deps
from core.wechat.accounts import api
from core.wechat.credentials import with_token

# EventKeys of the click buttons (used in menu_json and answered by the bot).
MY_CONTRACTS = "MENU_MY_CONTRACTS"
TO_SIGN = "MENU_TO_SIGN"
IDENTITY = "MENU_IDENTITY"
SIGNATURE = "MENU_SIGNATURE"
HELP = "MENU_HELP"
MENU_KEYS = (MY_CONTRACTS, TO_SIGN, IDENTITY, SIGNATURE, HELP)


def menu_definition(menu_json: str) -> dict[str, Any]:
    """Parse and sanity-check the menu (WeChat: ≤3 buttons, ≤5 sub-buttons each)."""
    try:
        menu = json.loads(menu_json)
    except ValueError as exc:
        raise ConfigError(f"[wechat] menu_json is not JSON: {exc}") from None
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise ConfigError("[wechat] menu_json needs 1–3 buttons")
    for button in buttons:
        subs = button.get("sub_button")
        if subs is not None and (not isinstance(subs, list) or not 1 <= len(subs) <= 5):
            raise ConfigError("[wechat] menu_json: 1–5 sub_button per button")
        for item in subs or [button]:
            if not item.get("name"):
                raise ConfigError("[wechat] menu_json: every button needs a name")
            if item.get("type") == "click" and not item.get("key"):
                raise ConfigError("[wechat] menu_json: click buttons need a key")
    return menu


def menu_items(menu_json: str) -> list[dict[str, str]]:
    """The click buttons, flattened: what the simulator shows."""
    items: list[dict[str, str]] = []
    for button in menu_definition(menu_json)["button"]:
        for item in button.get("sub_button") or [button]:
            if item.get("type") == "click":
                items.append({"name": item["name"], "key": item["key"]})
    return items


async def push_menu(deps: Deps) -> dict[str, Any]:
    menu = menu_definition(deps.config.wechat.menu_json)
    await with_token(deps, lambda token: api(deps).create_menu(token, menu))
    return menu
