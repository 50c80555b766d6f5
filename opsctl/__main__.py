"""`python -m opsctl`."""

from __future__ import annotations

from opsctl.cli import main

if __name__ == "__main__":
    main()
