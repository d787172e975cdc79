"""The /t/ endpoints: 307 only to a stored URL, 404 otherwise, the pixel, hits without IPs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carteiro.runtime import Runtime
from carteiro.tracking.body import Tracked
from carteiro.tracking.models import TrackingHit

Track = Callable[..., Tracked]
HTML = (
    '<body><a href="https://loja.example/oferta?a=1&amp;b=2#topo">oferta</a>'
    '<a href="https://exämple.com.br/ação">ação</a></body>'
)


def hits(runtime: Runtime) -> list[TrackingHit]:
    with runtime.db.session() as session:
        found = list(session.scalars(select(TrackingHit).order_by(TrackingHit.id)))
        session.expunge_all()
        return found


def test_a_link_redirects_to_its_stored_url(
    client: TestClient, runtime: Runtime, track: Track
) -> None:
    tracked = track(HTML)
    first = client.get(
        f"/t/{tracked.token}/0",
        follow_redirects=False,
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"},
    )
    assert first.status_code == 307
    assert first.headers["location"] == "https://loja.example/oferta?a=1&b=2#topo"
    assert first.headers["cache-control"].startswith("no-store")
    assert first.headers["referrer-policy"] == "no-referrer"
    second = client.get(f"/t/{tracked.token}/1", follow_redirects=False)
    assert second.headers["location"] == "https://xn--exmple-cua.com.br/a%C3%A7%C3%A3o"
    recorded = hits(runtime)
    assert [(h.kind, h.link, h.hit_class) for h in recorded] == [
        ("click", 0, None),
        ("click", 1, None),
    ]
    assert recorded[0].user_agent == "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


@pytest.mark.parametrize(
    "path",
    [
        "/t/{token}/3",  # past the trap link (index 2)
        "/t/{token}/99",
        "/t/{token}/-1",
        "/t/{token}/0x1",
        "/t/{token}/1.0",
        "/t/{token}/https:%2F%2Fevil.example",
        "/t/{token}/%2F%2Fevil.example",
        "/t/{token}/0?url=https://evil.example",
        "/t/unknowntoken000000000/0",
        "/t/{token}x/0",
        "/t/" + "a" * 200 + "/0",
        "/t/{token}/0000001",
    ],
)
def test_nothing_else_redirects(
    client: TestClient, runtime: Runtime, track: Track, path: str
) -> None:
    tracked = track(HTML)
    response = client.get(path.format(token=tracked.token), follow_redirects=False)
    if path == "/t/{token}/0?url=https://evil.example":
        # The query is ignored: still only the stored URL.
        assert response.status_code == 307
        assert response.headers["location"].startswith("https://loja.example/")
        return
    assert response.status_code == 404
    assert "location" not in response.headers
    if "%2F" not in path:  # a path of more segments is no tracking route at all
        assert "Link não encontrado" in response.text
    assert hits(runtime) == []


def test_the_trap_link_answers_without_redirecting(
    client: TestClient, runtime: Runtime, track: Track
) -> None:
    tracked = track(HTML)
    response = client.get(f"/t/{tracked.token}/{tracked.trap}", follow_redirects=False)
    assert response.status_code == 200 and "location" not in response.headers
    assert [(h.kind, h.link) for h in hits(runtime)] == [("trap", 2)]


def test_the_pixel_is_a_gif_never_cached(
    client: TestClient, runtime: Runtime, track: Track
) -> None:
    tracked = track(HTML)
    response = client.get(f"/t/{tracked.token}/o.gif")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and len(response.content) < 100
    assert "no-store" in response.headers["cache-control"]
    unknown = client.get("/t/nobodyknowsthistoken0/o.gif")
    assert unknown.status_code == 200 and unknown.content == response.content
    assert [h.kind for h in hits(runtime)] == ["open"]


def test_no_address_is_stored_only_a_network_hash(
    client: TestClient, runtime: Runtime, track: Track
) -> None:
    tracked = track(HTML)
    client.get(f"/t/{tracked.token}/o.gif")
    (hit,) = hits(runtime)
    # TestClient's peer is "testclient", not an address: nothing to hash.
    assert hit.network is None
    from carteiro.tracking.network import network_hash, prefix

    assert prefix("203.0.113.77") == "203.0.113.0/24"
    assert prefix("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert prefix("::ffff:198.51.100.9") == "198.51.100.0/24"
    one = network_hash(runtime.settings, "203.0.113.77")
    assert (
        one
        == network_hash(runtime.settings, "203.0.113.1")
        != network_hash(runtime.settings, "203.0.114.1")
    )
    assert one is not None and len(one) == 16 and "203" not in one


def test_a_recording_failure_does_not_break_the_redirect(
    client: TestClient, runtime: Runtime, track: Track
) -> None:
    tracked = track(HTML)
    client.get(f"/t/{tracked.token}/0", follow_redirects=False)  # cached from here on
    # Renamed away and back, not dropped: on PostgreSQL every later test shares the schema.
    with runtime.db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tracking_hits RENAME TO tracking_hits_away")
    try:
        response = client.get(f"/t/{tracked.token}/0", follow_redirects=False)
    finally:
        with runtime.db.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE tracking_hits_away RENAME TO tracking_hits")
    assert response.status_code == 307
