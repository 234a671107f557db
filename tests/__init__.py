"""wirematch's test suite (pytest); it also runs the C unit tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout
