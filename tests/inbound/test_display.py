"""The frame document: sanitised, remote images held back until allowed, inline parts linked."""

from __future__ import annotations

from carteiro.inbound.display import BLOCKED_CSP, OPEN_CSP, frame_document

MAIL = (
    '<p onclick="x()">Olá<img src="https://track.example/o.gif">'
    '<img srcset="//cdn.example/a.png 2x"><img src="cid:logo@x"><script>alert(1)</script>'
    '<a href="javascript:alert(1)">a</a><a href="https://site.example">b</a></p>'
)


def test_remote_images_are_held_back_until_allowed() -> None:
    blocked = frame_document(MAIL, "", remote_images=False, inline={"<logo@x>": "/att/7"})
    # srcset is not kept at all; the src counts as one held-back image.
    assert blocked.blocked_images == 1
    assert "track.example" not in blocked.html and "cdn.example" not in blocked.html
    assert 'src="/att/7"' in blocked.html
    assert "<script" not in blocked.html and "onclick" not in blocked.html
    assert "javascript:" not in blocked.html
    assert 'target="_blank"' in blocked.html and "noreferrer" in blocked.html
    assert blocked.csp == BLOCKED_CSP and "https:" not in blocked.csp

    shown = frame_document(MAIL, "", remote_images=True)
    assert shown.blocked_images == 0
    assert "https://track.example/o.gif" in shown.html
    assert shown.csp == OPEN_CSP


def test_plain_text_is_escaped() -> None:
    doc = frame_document(None, "<b>não</b> é HTML", remote_images=False)
    assert "&lt;b&gt;não&lt;/b&gt;" in doc.html and doc.blocked_images == 0
    assert doc.html.startswith("<!doctype html>") and 'lang="pt-BR"' in doc.html
