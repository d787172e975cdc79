"""Vendored files match their MANIFEST; catalogues are complete and their .mo files current."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import carteiro.web

WEB = Path(carteiro.web.__file__).parent
VENDOR = WEB / "static" / "vendor"
LOCALE = WEB / "locale"
PINNED = {
    "htmx.min.js": "2.0.11",
    "alpine-csp.min.js": "3.17.4",
    "bootstrap.min.css": "5.3.8",
    "bootstrap.bundle.min.js": "5.3.8",
    "chart.umd.min.js": "4.6.1",
}


def _manifest() -> dict[str, tuple[str, str]]:
    entries = {}
    for line in (VENDOR / "MANIFEST").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version, digest = line.split()
            entries[name] = (version, digest)
    return entries


def test_vendored_files_match_the_manifest_and_the_pinned_versions() -> None:
    manifest = _manifest()
    on_disk = {p.name for p in VENDOR.iterdir() if p.name != "MANIFEST"}
    assert set(manifest) == on_disk == set(PINNED)
    for name, (version, digest) in manifest.items():
        assert version == PINNED[name], name
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    # htmx 2, not npm's `latest` (4.x).
    assert '"2.0.11"' in (VENDOR / "htmx.min.js").read_text()


def test_templates_hold_no_inline_script_or_style() -> None:
    for path in (WEB / "templates").rglob("*.html"):
        text = path.read_text()
        scripts = re.findall(r"<script\b([^>]*)>", text)
        for attrs in scripts:
            assert "src=" in attrs or 'type="application/json"' in attrs, path.name
        assert not re.search(r"\sstyle=|\son[a-z]+=|<style\b|javascript:", text), path.name


def test_pt_br_catalogue_is_complete_and_compiled() -> None:
    pot = read_po(io.BytesIO((LOCALE / "messages.pot").read_bytes()))
    for locale in ("pt_BR", "en"):
        po_path = LOCALE / locale / "LC_MESSAGES" / "messages.po"
        catalog = read_po(io.BytesIO(po_path.read_bytes()), locale=locale)
        assert {m.id for m in pot if m.id} <= {m.id for m in catalog if m.id}, (
            f"{locale}: run `make messages`"
        )
        mo = read_mo(io.BytesIO(po_path.with_suffix(".mo").read_bytes()))
        compiled = {m.id: m.string for m in mo if m.id}
        written = {m.id: m.string for m in catalog if m.id and m.string}
        assert compiled == written, f"{locale}: the .mo is stale; run `make messages`"
    pt = read_po(io.BytesIO((LOCALE / "pt_BR/LC_MESSAGES/messages.po").read_bytes()))
    untranslated = [m.id for m in pt if m.id and not m.string]
    assert not untranslated, untranslated


def test_package_data_ships_templates_static_and_catalogues() -> None:
    pyproject = (WEB.parents[2] / "pyproject.toml").read_text()
    for pattern in (
        "web/templates/**/*.html",
        "web/static/*",
        "web/static/vendor/*",
        "web/locale/*/LC_MESSAGES/*.mo",
    ):
        assert f'"{pattern}"' in pyproject, pattern
