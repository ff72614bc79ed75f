"""What the bot says. Links open H5 pages through OAuth, so they arrive logged in."""

from __future__ import annotations

from core.context import Deps
from core.wechat.accounts import oauth_link
from core.wechat.standing import Standing


def a(href: str, label: str) -> str:
    return f'<a href="{href}">{label}</a>'


def login_links(deps: Deps) -> str:
    return (
        f"{a(oauth_link(deps, '/login?next=/wechat/bind'), '登录')}"
        f" 或 {a(oauth_link(deps, '/register?next=/wechat/bind'), '注册')}"
    )


def help_text() -> str:
    return (
        "您可以回复：\n"
        "「合同」查看待签署的合同\n"
        "「实名」进行实名认证\n"
        "「签名」设置手写签名\n"
        "「登录」登录或绑定账号\n"
        "「人工」联系客服\n"
        "也可以使用下方菜单。"
    )


# Said wherever the bot offers the log-in / register links: what happens after them
# (handlers/wechat.py binds this WeChat at once when the page was opened from here).
AUTO_BIND = "完成后本微信将自动绑定您的账号，以后从公众号打开页面无需再次登录。"


def not_bound(deps: Deps) -> str:
    return f"您还没有绑定账号。请先{login_links(deps)}，{AUTO_BIND}"


def pc_login_hint(deps: Deps) -> str:
    base = deps.config.server.base_url.rstrip("/")
    return f"在电脑上使用：浏览器打开 {base}/login ，选择「扫码登录」，用微信扫描二维码并确认即可。"


def login(deps: Deps, s: Standing) -> str:
    """The 登录 keyword: how to log in here (a link that binds) and on a PC."""
    if s.state == "unbound":
        return f"请{login_links(deps)}，{AUTO_BIND}\n{pc_login_hint(deps)}"
    home = a(oauth_link(deps, "/"), "进入我的首页")
    return (
        f"您的账号已绑定本微信，从公众号打开的页面会自动登录：{home}\n{pc_login_hint(deps)}"
    )


def greeting(deps: Deps, s: Standing) -> str:
    head = "欢迎关注 LaborSign 电子劳动合同！"
    if s.state == "unbound":
        return (
            f"{head}\n在这里可以完成实名认证、手写签名，并在手机上签署劳动合同。\n"
            f"首次使用请{login_links(deps)}，{AUTO_BIND}"
        )
    if s.state == "unverified":
        return (
            f"{head}\n您的账号已绑定本微信。签署合同前需要先完成实名认证："
            f"{a(oauth_link(deps, '/identity'), '去实名认证')}"
            + (f"\n您有 {s.contracts_waiting} 份合同待签署。" if s.contracts_waiting else "")
        )
    hello = f"{s.display_name}，您好！" if s.display_name else "您好！"
    return f"{head}\n{hello}{contracts_line(deps, s)}"


def contracts_line(deps: Deps, s: Standing) -> str:
    if s.contracts_waiting:
        return (
            f"您有 {s.contracts_waiting} 份合同待签署："
            f"{a(oauth_link(deps, '/contracts?tab=to_sign'), '立即签署')}"
        )
    return f"目前没有待签署的合同。{a(oauth_link(deps, '/contracts'), '查看我的合同')}"


def to_sign(deps: Deps, s: Standing) -> str:
    if s.state == "unbound":
        return not_bound(deps)
    return contracts_line(deps, s)


def my_contracts(deps: Deps, s: Standing) -> str:
    if s.state == "unbound":
        return not_bound(deps)
    if s.contracts_waiting:
        return contracts_line(deps, s)
    return f"{a(oauth_link(deps, '/contracts'), '查看我的合同')}（待签署、已完成、已作废）"


def identity(deps: Deps, s: Standing) -> str:
    if s.state == "unbound":
        return not_bound(deps)
    if s.state == "verified":
        who = f"（{s.display_name}）" if s.display_name else ""
        return f"您已完成实名认证{who}，可以直接签署合同。"
    return (
        "签署劳动合同前需要完成实名认证（人脸识别、运营商三要素或银行卡四要素）："
        f"{a(oauth_link(deps, '/identity'), '去实名认证')}"
    )


def signature(deps: Deps, s: Standing) -> str:
    if s.state == "unbound":
        return not_bound(deps)
    link = a(oauth_link(deps, "/me/signatures"), "设置手写签名")
    return f"在手机上手写您的签名，签署时直接使用：{link}"


def unknown_text() -> str:
    return "抱歉，没有理解您的意思。\n" + help_text()


def non_text() -> str:
    return "暂时只能处理文字消息。\n" + help_text()
