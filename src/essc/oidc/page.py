"""The login page of /authorize: server-rendered, no script, every value escaped."""

from __future__ import annotations

from html import escape

from essc.oidc.service import Page

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:32rem;padding:1rem;line-height:1.5}"
    "label{display:block;margin:.6rem 0}input{font-size:1rem}.error{color:#a00}"
)
SCOPES = {
    "openid": "标识与掩码姓名、地区 Your pseudonym, masked name and region",
    "profile": "掩码姓名 Your masked name",
    "region": "发卡地区 Your card's region",
    "id_number": "身份证号码（加密传送）Your ID number, sealed to the site",
}


def _frame(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def login_page(page: Page, error: str | None = None) -> str:
    """Whom the holder logs in to, what it will learn, and the kiosk form (e-card number and password)."""
    items = "".join(f"<li>{escape(SCOPES.get(s, s))}</li>" for s in page.scopes)
    consent = (
        '<label><input type="checkbox" name="consent_id_number" value="yes"> '
        "同意向该网站提供身份证号码 I agree to give this site my ID number</label>"
        if page.asks_clear_id
        else ""
    )
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _frame(
        "电子社保卡登录 E-card login",
        f'<h1>电子社保卡登录 <span lang="en">E-card login</span></h1>'
        f"<p>登录到 Log in to <strong>{escape(page.client_name)}</strong></p>"
        f"<p>该网站将获得 The site will learn:</p><ul>{items}</ul>{problem}"
        '<form method="post" action="/oidc/authorize/kiosk">'
        f'<input type="hidden" name="interaction" value="{escape(page.interaction)}">'
        '<label>电子社保卡号 E-card number <input name="essc_no" autocomplete="off" required></label>'
        '<label>电子社保卡密码 E-card password <input name="password" type="password" inputmode="numeric" '
        'maxlength="6" autocomplete="off" required></label>'
        f'{consent}<button type="submit">登录 Log in</button></form>',
    )


def error_page(message: str) -> str:
    return _frame(
        "无法登录 Cannot log in",
        f'<h1>无法登录 <span lang="en">Cannot log in</span></h1><p class="error">{escape(message)}</p>',
    )
