"""The index page of `safetyviz serve`: links to every dashboard, in Chinese and English,
with nothing loaded from any other host (Panel's default index pulls fonts and images from
CDNs)."""

from __future__ import annotations

import html

from safetyviz.core.i18n import text
from safetyviz.web.pages import PAGES, Page


def index_html(pages: list[Page] | None = None, logout: bool = False) -> str:
    """A self-contained page linking to ``pages`` (every registered page by default), and
    to the logout when served with logins."""
    items = "".join(
        f'<li><a href="./{html.escape(page.slug)}">{html.escape(page.zh)}'
        f'<span>{html.escape(page.en)}</span></a></li>'
        for page in (PAGES.values() if pages is None else pages))
    title = f"{text('supervision', 'zh')} · {text('supervision', 'en')}"
    signout = '<p><a class="logout" href="./logout">退出登录 / Sign out</a></p>' if logout else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 2em; color: #1b2631;}}
ul {{list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 12px;}}
a {{display: block; padding: 16px 24px; border: 1px solid #d5d8dc; border-radius: 8px;
    text-decoration: none; color: #922b21; font-size: 20px; min-width: 180px;}}
a span {{display: block; font-size: 13px; color: #566573;}}
a.logout {{display: inline; border: 0; padding: 0; font-size: 14px; color: #566573;}}
</style></head>
<body><h1>{html.escape(title)}</h1><ul>{items}</ul>{signout}</body></html>
"""
