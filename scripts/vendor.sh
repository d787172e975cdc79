#!/usr/bin/env bash
# Refreshes the web console's vendored JS/CSS from npm at exact versions (developers only:
# serving, testing and CI use the committed files and never need node).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=src/carteiro/web/static/vendor
# npm package@version, file inside the package, name in $DEST
FILES=(
  "htmx.org@2.0.11 package/dist/htmx.min.js htmx.min.js"
  "@alpinejs/csp@3.17.4 package/dist/cdn.min.js alpine-csp.min.js"
  "bootstrap@5.3.8 package/dist/css/bootstrap.min.css bootstrap.min.css"
  "bootstrap@5.3.8 package/dist/js/bootstrap.bundle.min.js bootstrap.bundle.min.js"
  "chart.js@4.6.1 package/dist/chart.umd.min.js chart.umd.min.js"
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$DEST"
manifest="# name version sha256 (rewritten by \`make vendor\`; checked by tests/web/test_vendor.py)"
for entry in "${FILES[@]}"; do
  read -r spec inner name <<<"$entry"
  tgz=$(cd "$work" && npm pack --silent "$spec" | tail -n 1)
  tar -xzf "$work/$tgz" -C "$work" "$inner"
  cp "$work/$inner" "$DEST/$name"
  rm -rf "$work/package"
  sum=$(sha256sum "$DEST/$name" | cut -d' ' -f1)
  manifest+=$'\n'"$name ${spec##*@} $sum"
done
printf '%s\n' "$manifest" >"$DEST/MANIFEST"
echo "vendored into $DEST:"
cat "$DEST/MANIFEST"
