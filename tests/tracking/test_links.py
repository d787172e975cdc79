"""Link rewriting: tricky URLs survive, untouched links stay, the rest of the body is unchanged."""

from __future__ import annotations

import re

import pytest

from carteiro.config import Settings
from carteiro.tracking import body, links
from carteiro.tracking.uri import to_uri

BASE = "https://mail.carteiro.test"
TRACKED = re.compile(r"https://mail\.carteiro\.test/t/([A-Za-z0-9_-]+)/(\d+)")


def _settings() -> Settings:
    return Settings(_env_file=None, public_url=BASE)


# (href as written in the HTML, the URL stored, the Location the redirect sends)
CASES = [
    ("https://example.com/", "https://example.com/", "https://example.com/"),
    (
        "https://example.com/p?a=1&amp;b=2",
        "https://example.com/p?a=1&b=2",
        "https://example.com/p?a=1&b=2",
    ),
    (
        "https://example.com/p?a=1&b=2&amp;c=%20x#sec-2",
        "https://example.com/p?a=1&b=2&c=%20x#sec-2",
        "https://example.com/p?a=1&b=2&c=%20x#sec-2",
    ),
    ("https://example.com/#/route?x=1", "https://example.com/#/route?x=1", None),
    (
        "https://exämple.com.br/promoção?cupom=verão",
        "https://exämple.com.br/promoção?cupom=verão",
        "https://xn--exmple-cua.com.br/promo%C3%A7%C3%A3o?cupom=ver%C3%A3o",
    ),
    ("https://日本.jp/パス", "https://日本.jp/パス", "https://xn--wgv71a.jp/%E3%83%91%E3%82%B9"),
    (
        "https://example.com/a&#47;b?q=caf&eacute;",
        "https://example.com/a/b?q=café",
        "https://example.com/a/b?q=caf%C3%A9",
    ),
    ("HTTP://EXAMPLE.COM/UP", "HTTP://EXAMPLE.COM/UP", None),
    ("https://user@example.com:8443/x", "https://user@example.com:8443/x", None),
    (
        "https://example.com/utm?utm_source=news&amp;utm_medium=email",
        "https://example.com/utm?utm_source=news&utm_medium=email",
        None,
    ),
]


@pytest.mark.parametrize(("written", "stored", "location"), CASES)
def test_tricky_urls_are_stored_decoded_and_redirect_as_ascii(
    written: str, stored: str, location: str | None
) -> None:
    source = f'<p>antes <a class="btn" href="{written}" title="x">link</a> depois</p>'
    tracked = body.rewrite(_settings(), html_body=source, text_body=None)
    assert tracked.urls == [stored]
    assert tracked.html is not None
    new_href = TRACKED.search(tracked.html.split("antes", 1)[1])
    assert new_href and new_href.group(2) == "0" and new_href.group(1) == tracked.token
    # Everything but the href value is byte for byte what was written.
    assert tracked.html.endswith(source.replace(written, f"{BASE}/t/{tracked.token}/0"))
    assert to_uri(stored) == (location or stored)
    assert to_uri(stored).isascii()


@pytest.mark.parametrize(
    "href",
    [
        "mailto:ana@example.com?subject=Oi&amp;body=x",
        "tel:+5511999990000",
        "#topo",
        "/relative/path",
        "ftp://example.com/file",
        "javascript:alert(1)",
        "https://mail.carteiro.test/u/TOKEN123",
        "https://lists.example.com/unsubscribe?id=9",
        "{{ unsubscribe_url }}",
        "https://example.com/{{ lead.id }}",
        "",
    ],
)
def test_links_left_alone(href: str) -> None:
    source = f"<body><a href=\"{href}\">x</a><a href='{href}'>y</a></body>"
    tracked = body.rewrite(_settings(), html_body=source, text_body=None, opens=False)
    assert tracked.urls == []
    assert tracked.html is not None
    # Only the hidden trap link was added.
    assert (
        tracked.html.replace(
            re.search(r"<a href=\"[^\"]+/t/[^\"]+\"[^>]*></a>", tracked.html).group(0), ""
        )
        == source
    )  # type: ignore[union-attr]


def test_the_rest_of_the_document_is_byte_identical() -> None:
    source = (
        "<!DOCTYPE html>\n<html lang=pt-BR>\n<head><meta charset=utf-8>"
        '<style>a[href="https://x.example/"]{color:red}</style>'
        "<script>var u = '<a href=\"https://in-script.example/\">';</script></head>\n"
        "<BODY bgcolor='#fff'>\n<!-- <a href=\"https://in-comment.example/\">old</a> -->\n"
        "<table><tr><td><a  HREF = 'https://a.example/1' >um</a></td>"
        "<td><a href=https://b.example/2?x=1&amp;y=2>dois</a></td></tr></table>\n"
        '<map><area shape=rect coords=0,0,1,1 href="https://c.example/area"></map>\n'
        '<p>Olá, ação &amp; reação — ✓ &nbsp;<br/><img src="https://img.example/x.png"></p>\n'
        '<a href="https://a.example/1">de novo</a>\n</BODY>\n</html>\n'
    )
    tracked = body.rewrite(_settings(), html_body=source, text_body=None)
    assert tracked.urls == [
        "https://a.example/1",
        "https://b.example/2?x=1&y=2",
        "https://c.example/area",
    ]
    assert tracked.html is not None
    t = tracked.token
    expected = (
        source.replace("'https://a.example/1'", f"'{BASE}/t/{t}/0'")
        .replace('"https://a.example/1"', f'"{BASE}/t/{t}/0"')
        .replace("href=https://b.example/2?x=1&amp;y=2>", f"href={BASE}/t/{t}/1>")
        .replace('"https://c.example/area"', f'"{BASE}/t/{t}/2"')
    )
    top = tracked.html[len("<!DOCTYPE html>") :].split("<BODY bgcolor='#fff'>", 1)[1]
    added = top[: top.index("\n")]
    assert expected.replace("<BODY bgcolor='#fff'>", "<BODY bgcolor='#fff'>" + added) == (
        tracked.html
    )
    # Script, style, comments and images are not links.
    for untouched in ("in-script.example", "in-comment.example", "x.example/", "img.example"):
        assert untouched in tracked.html


def test_pixel_and_trap_sit_right_after_the_body_tag() -> None:
    source = '<html><head><title>t</title></head><body style="margin:0"><h1>Oi</h1></body></html>'
    tracked = body.rewrite(_settings(), html_body=source, text_body=None)
    assert tracked.html is not None
    after = tracked.html.split('<body style="margin:0">', 1)[1]
    trap = f'<a href="{BASE}/t/{tracked.token}/{tracked.trap}" style="display:none"'
    assert after.startswith(trap)
    pixel = f'<img src="{BASE}/t/{tracked.token}/o.gif" width="1" height="1" alt=""'
    assert after.index(pixel) < after.index("<h1>Oi</h1>")
    assert tracked.html.count("o.gif") == 1
    assert tracked.trap == len(tracked.urls) == 0


def test_pixel_first_when_there_is_no_body_tag() -> None:
    tracked = body.rewrite(_settings(), html_body="<p>fragmento</p>", text_body=None)
    assert tracked.html is not None
    assert tracked.html.startswith("<a href=") and tracked.html.endswith("<p>fragmento</p>")
    assert tracked.html.index("o.gif") < tracked.html.index("<p>")


def test_opens_and_clicks_can_be_switched_apart() -> None:
    source = '<body><a href="https://a.example/">a</a></body>'
    no_opens = body.rewrite(_settings(), html_body=source, text_body=None, opens=False)
    assert no_opens.html is not None and "o.gif" not in no_opens.html and "/t/" in no_opens.html
    no_clicks = body.rewrite(_settings(), html_body=source, text_body=None, clicks=False)
    assert no_clicks.html is not None and no_clicks.urls == []
    assert 'href="https://a.example/"' in no_clicks.html and "o.gif" in no_clicks.html


def test_plain_text_urls_share_the_html_indexes() -> None:
    tracked = body.rewrite(
        _settings(),
        html_body='<a href="https://a.example/x?p=1&amp;q=2">a</a>',
        text_body=(
            "Veja https://a.example/x?p=1&q=2. Ou (https://b.example/novo), "
            "mailto:ana@example.com e https://mail.carteiro.test/u/abc para sair.\n"
            "https://ç.example/ã!"
        ),
    )
    t = tracked.token
    assert tracked.urls == [
        "https://a.example/x?p=1&q=2",
        "https://b.example/novo",
        "https://ç.example/ã",
    ]
    assert tracked.text == (
        f"Veja {BASE}/t/{t}/0. Ou ({BASE}/t/{t}/1), mailto:ana@example.com e "
        f"https://mail.carteiro.test/u/abc para sair.\n{BASE}/t/{t}/2!"
    )
    assert tracked.trap == 3


def test_a_placeholder_token_compiles_once_for_many_recipients() -> None:
    tracked = body.rewrite(
        _settings(),
        html_body='<a href="https://a.example/">a</a>',
        text_body=None,
        token="{{ tracking_token }}",
    )
    assert tracked.html is not None
    assert f'href="{BASE}/t/{{{{ tracking_token }}}}/0"' in tracked.html


def test_tokens_are_random_and_unguessable() -> None:
    tokens = {body.new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(t) == 22 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens)


def test_the_scanner_handles_broken_html() -> None:
    found = links.Links()
    html, _ = links.rewrite_html(
        '<a href="https://a.example/"<b>x</a><a href=https://b.example/ <p>',
        found,
        href_for=lambda n: f"T{n}",
        keep=lambda url: False,
    )
    assert found.urls and all(u.startswith("https://") for u in found.urls)
    assert "T0" in html
