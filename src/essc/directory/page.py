"""The public list as a plain HTML page: server-rendered, no script, every value escaped."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from essc.channels.service import ChannelType
from essc.directory.schemas import ProvinceChannelAppsOut
from essc.shared.policy import Function

CHANNEL_TYPES: dict[str, tuple[str, str]] = {
    ChannelType.HRSS_APP: ("人社部门App", "HRSS department app"),
    ChannelType.GOVERNMENT_APP: ("政务服务App", "Government services app"),
    ChannelType.NATIONAL_PARTNER: ("全国性合作平台", "National partner platform"),
    ChannelType.BANK: ("银行App", "Bank app"),
    ChannelType.MEDICAL: ("医疗健康App", "Medical and health app"),
    ChannelType.SOCIAL_SERVICE: ("社会服务App", "Social services app"),
}
FUNCTIONS: dict[Function, tuple[str, str]] = {
    Function.ISSUANCE: ("电子社保卡签发", "E-card issuance"),
    Function.LOGIN: ("扫码登录", "Scan-to-login"),
    Function.QR: ("电子社保卡二维码", "QR code"),
    Function.PAYMENT: ("支付", "Payment"),
    Function.QUERIES: ("信息查询", "Queries"),
    Function.BUSINESS_APPLICATIONS: ("业务办理", "Business applications"),
    Function.ELIGIBILITY_CERTIFICATION: ("待遇资格认证", "Eligibility certification"),
}
LEVELS = {1: ("一级渠道", "First-level"), 2: ("二级渠道", "Second-level")}

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;line-height:1.5}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #888;padding:.4rem;text-align:left;"
    "vertical-align:top}ul{margin:0;padding-left:1.2rem}.en{color:#444}"
    "label,select,button{font-size:1rem}"
)


def _bilingual(labels: tuple[str, str] | None, code: str) -> str:
    """A Chinese label with its English one, or the bare code when it has none."""
    if labels is None:
        return escape(code)
    return f'{escape(labels[0])} <span class="en" lang="en">{escape(labels[1])}</span>'


def _options(provinces: dict[str, str], selected: str | None) -> str:
    prompt = "" if selected in provinces else '<option value="" selected disabled>请选择 Choose</option>'
    return prompt + "".join(
        f'<option value="{escape(code)}"{" selected" if code == selected else ""}>'
        f"{escape(code)} {escape(name)}</option>"
        for code, name in provinces.items()
    )


def _table(listing: ProvinceChannelAppsOut) -> str:
    if not listing.channel_apps:
        return (
            '<p id="empty">暂无授权渠道应用。 <span class="en" lang="en">No channel app is authorised for '
            "this province's cardholders.</span></p>"
        )
    rows = []
    for app in listing.channel_apps:
        functions = "".join(f"<li>{_bilingual(FUNCTIONS.get(f), f.value)}</li>" for f in app.functions)
        rows.append(
            f'<tr data-channel-no="{escape(app.channel_no)}">'
            f"<td>{escape(app.channel_no)}</td>"
            f"<td>{escape(app.name)}</td>"
            f"<td>{escape(app.organisation)}</td>"
            f"<td>{_bilingual(CHANNEL_TYPES.get(app.channel_type), app.channel_type)}</td>"
            f"<td>{_bilingual(LEVELS.get(app.level), str(app.level))}</td>"
            f"<td><ul>{functions}</ul></td></tr>"
        )
    head = "".join(
        f'<th scope="col">{escape(zh)} <span class="en" lang="en">{escape(en)}</span></th>'
        for zh, en in (
            ("渠道编号", "Channel no."),
            ("名称", "Name"),
            ("机构", "Organisation"),
            ("类型", "Type"),
            ("级别", "Level"),
            ("授权功能", "Authorised functions"),
        )
    )
    caption = (
        f"{escape(listing.province_name)}授权渠道应用 "
        f'<span class="en" lang="en">Channel apps authorised in province {escape(listing.province)}</span>'
    )
    return (
        f'<table id="channel-apps"><caption>{caption}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render(
    provinces: dict[str, str],
    listing: ProvinceChannelAppsOut | None,
    *,
    selected: str | None = None,
    error: str | None = None,
) -> str:
    """The whole page: the province selector, then the province's list, a prompt, or the error."""
    chosen = listing.province if listing is not None else selected
    title = "授权渠道应用 Authorised channel apps"
    if listing is not None:
        title = f"{listing.province_name} · {title}"
    body: list[str] = []
    if error is not None:
        body.append(f'<p id="error" role="alert">{escape(error)}</p>')
    if listing is not None:
        count = len(listing.channel_apps)
        json_url = f"/v1/public/provinces/{quote(listing.province)}/channel-apps"
        body.append(
            f'<h2 id="province-heading">{escape(listing.province_name)} ({escape(listing.province)})</h2>'
            f'<p id="count">共 {count} 个 <span class="en" lang="en">{count} channel app(s)</span></p>'
            f"{_table(listing)}"
            f'<p>JSON: <a href="{escape(json_url)}">{escape(json_url)}</a></p>'
        )
    elif error is None:
        body.append('<p>请选择省份。 <span class="en" lang="en">Choose a province.</span></p>')
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        '<h1>电子社保卡授权渠道应用 <span class="en" lang="en">Authorised e-card channel apps</span></h1>'
        "<p>各省人社部门授权、当前有效的渠道应用及其功能。 "
        '<span class="en" lang="en">The channel apps each province has authorised for its cardholders, '
        "with their functions, as in force now.</span></p>"
        '<form method="get" action="/channel-apps">'
        '<label for="province">省份 <span class="en" lang="en">Province</span></label> '
        f'<select id="province" name="province">{_options(provinces, chosen)}</select> '
        '<button type="submit">查看 <span class="en" lang="en">Show</span></button></form>'
        f"{''.join(body)}</main></body></html>"
    )
