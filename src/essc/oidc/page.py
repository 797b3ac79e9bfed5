"""The login pages of /authorize: server-rendered, no script, every value escaped."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from essc.oidc.service import Page

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:32rem;padding:1rem;line-height:1.5}"
    "label{display:block;margin:.6rem 0}input{font-size:1rem}.error{color:#a00}"
    "fieldset{margin:1rem 0}.qr svg{width:14rem;height:14rem}"
)
SCOPES = {
    "openid": "标识与掩码姓名、地区 Your pseudonym, masked name and region",
    "profile": "掩码姓名 Your masked name",
    "region": "发卡地区 Your card's region",
    "id_number": "身份证号码（加密传送）Your ID number, sealed to the site",
}
SCAN_PATH = "/oidc/authorize/scan"
POLL_SECONDS = 2  # how often the waiting page asks whether the holder confirmed in the app


def _frame(title: str, body: str, refresh: str | None = None) -> str:
    meta = f'<meta http-equiv="refresh" content="{POLL_SECONDS};url={escape(refresh)}">' if refresh else ""
    return (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{meta}<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _consent(page: Page) -> str:
    return (
        '<label><input type="checkbox" name="consent_id_number" value="yes"> '
        "同意向该网站提供身份证号码 I agree to give this site my ID number</label>"
        if page.asks_clear_id
        else ""
    )


def _heading(page: Page) -> str:
    items = "".join(f"<li>{escape(SCOPES.get(s, s))}</li>" for s in page.scopes)
    return (
        f'<h1>电子社保卡登录 <span lang="en">E-card login</span></h1>'
        f"<p>登录到 Log in to <strong>{escape(page.client_name)}</strong></p>"
        f"<p>该网站将获得 The site will learn:</p><ul>{items}</ul>"
    )


def scan_url(page: Page, *, renew: bool = False) -> str:
    """Where the page asks after its scan-to-login code (with the payload it shows, which is public)."""
    query = {"interaction": page.interaction}
    if page.scan_code is not None:
        query["code"] = page.scan_code.code
    if renew:
        query["renew"] = "yes"
    return f"{SCAN_PATH}?{urlencode(query)}"


def _scan_block(page: Page) -> str:
    if page.scan_code is None:
        return (
            "<fieldset><legend>扫码登录 Scan to log in</legend>"
            f'<p><a href="{escape(scan_url(page, renew=True))}">显示登录二维码 Show a login code</a></p>'
            "</fieldset>"
        )
    assert page.scan_code.svg is not None
    return (
        "<fieldset><legend>扫码登录 Scan to log in</legend>"
        "<p>用已开通电子社保卡的 App 扫码并确认 Scan with your e-card app and confirm there</p>"
        f'<div class="qr" role="img" aria-label="登录二维码 login code">{page.scan_code.svg}</div>'
        f'<p><a href="{escape(scan_url(page))}">我已在 App 中确认 I confirmed in the app</a></p></fieldset>'
    )


def login_page(page: Page, error: str | None = None) -> str:
    """Whom the holder logs in to, what it will learn, the scan-to-login code and the kiosk forms."""
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    interaction = f'<input type="hidden" name="interaction" value="{escape(page.interaction)}">'
    pin_input = (
        '<label>电子社保卡密码 E-card password <input name="password" type="password" inputmode="numeric" '
        'maxlength="6" autocomplete="off" required></label>'
    )
    return _frame(
        "电子社保卡登录 E-card login",
        f"{_heading(page)}{problem}{_scan_block(page)}"
        '<form method="post" action="/oidc/authorize/kiosk">'
        "<fieldset><legend>电子社保卡号与密码 E-card number and password</legend>"
        f"{interaction}"
        '<label>电子社保卡号 E-card number <input name="essc_no" autocomplete="off" required></label>'
        f'{pin_input}{_consent(page)}<button type="submit">登录 Log in</button></fieldset></form>'
        '<form method="post" action="/oidc/authorize/chip">'
        "<fieldset><legend>社保卡（第三代）与密码 Third-generation card and password</legend>"
        f"{interaction}"
        f'<input type="hidden" name="chip_challenge" value="{escape(page.chip_challenge)}">'
        '<input type="hidden" name="aab301"><input type="hidden" name="aaz500">'
        '<input type="hidden" name="chip_signature">'
        "<p>请将社保卡放在读卡区 Place your card on the reader</p>"
        f'{pin_input}{_consent(page)}<button type="submit">登录 Log in</button></fieldset></form>',
    )


def waiting_page(page: Page, scanned: bool) -> str:
    """The scan-to-login code again until it is scanned, then the wait; it asks again every few seconds."""
    code = "" if scanned else _scan_block(page)
    return _frame(
        "电子社保卡登录 E-card login",
        f"{_heading(page)}{code}<p>等待在 App 中确认 Waiting for your confirmation in the app</p>",
        refresh=scan_url(page),
    )


def consent_page(page: Page) -> str:
    """Confirmed in the app; the site asks for the clear ID number: the consent of the kiosk form."""
    return _frame(
        "电子社保卡登录 E-card login",
        f"{_heading(page)}<p>已在 App 中确认 Confirmed in your app</p>"
        f'<form method="post" action="{SCAN_PATH}">'
        f'<input type="hidden" name="interaction" value="{escape(page.interaction)}">'
        f'{_consent(page)}<button type="submit">继续 Continue</button></form>',
    )


def error_page(message: str, again: str | None = None) -> str:
    retry = f'<p><a href="{escape(again)}">显示新的登录二维码 Show a new login code</a></p>' if again else ""
    return _frame(
        "无法登录 Cannot log in",
        f'<h1>无法登录 <span lang="en">Cannot log in</span></h1>'
        f'<p class="error">{escape(message)}</p>{retry}',
    )
