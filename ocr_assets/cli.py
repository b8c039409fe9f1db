"""Entry point of the ``ocr-assets`` console script (``pyproject.toml``).

The commands live in :mod:`ocr_assets.deploy.cli`; this module only hands over to them.
"""

from __future__ import annotations

from ocr_assets.deploy.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
