"""Who fetched a tracking URL, judged by its User-Agent alone."""

from __future__ import annotations

import re
from functools import lru_cache

# Gmail fetches every image through its proxy when the message is opened (or prefetched).
_GMAIL = re.compile(r"GoogleImageProxy", re.I)
# Apple Mail Privacy Protection preloads remote content through its proxies with a bare UA.
_APPLE_PROXY = "Mozilla/5.0"
# Mail security gateways that follow every link before (or instead of) the person.
_SCANNERS = re.compile(
    r"barracuda|proofpoint|mimecast|messagelabs|symantec|forcepoint|trend ?micro|sophos|"
    r"fortiguard|ironport|cisco|safelinks|urldefense|zscaler|paloalto|checkpoint|"
    r"bitdefender|kaspersky|avast|eset|appriver|vadesecure|libraesva|hornetsecurity",
    re.I,
)
# Programs, crawlers and link previewers: nobody reads the message through them.
_BOTS = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|embedly|curl/|wget/|"
    r"python-|python/|httpx|aiohttp|go-http-client|java/|okhttp|apache-httpclient|headless|"
    r"phantomjs|scrapy|libwww|axios|node-fetch|postman|insomnia|powershell",
    re.I,
)


# Cached: a sweep judges thousands of hits from a handful of agents, three searches each.
@lru_cache(maxsize=4096)
def classify_agent(user_agent: str | None, *, kind: str) -> tuple[str, str] | None:
    """(class, reason) when the User-Agent alone tells a machine; None when it looks human."""
    agent = (user_agent or "").strip()
    if not agent:
        return "bot_ua", "no_user_agent"
    if _GMAIL.search(agent):
        return "gmail_prefetch", "google_image_proxy"
    if kind == "open" and agent == _APPLE_PROXY:
        return "apple_proxy", "apple_mpp_user_agent"
    if _SCANNERS.search(agent):
        return "scanner", "scanner_user_agent"
    if _BOTS.search(agent):
        return "bot_ua", "bot_user_agent"
    return None


def family(user_agent: str | None) -> str | None:
    """The User-Agent cut to what classification needs (no long fingerprints stored)."""
    if user_agent is None:
        return None
    return user_agent.strip()[:300] or None
