"""The product imports and starts without the `testing` extra (no aiosmtpd installed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Run in a fresh interpreter: this one has aiosmtpd loaded by the test servers already.
SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class Missing(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "aiosmtpd" or name.startswith("aiosmtpd."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Missing())

    import carteiro.api.app
    import carteiro.background
    import carteiro.cli.main
    import carteiro.mcp.server

    loaded = sorted(m for m in sys.modules if m == "aiosmtpd" or m.startswith("carteiro.testing"))
    assert not loaded, loaded
    try:
        carteiro.cli.main.app(["--help"])
    except SystemExit as exc:
        assert exc.code == 0, exc.code
    """
)


def test_product_imports_without_the_testing_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_the_blocker_really_blocks() -> None:
    # The check above would pass vacuously if the hook let aiosmtpd through.
    script = SCRIPT.split("import carteiro.api.app")[0] + "import carteiro.testing.smtp_server\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "aiosmtpd" in done.stderr
