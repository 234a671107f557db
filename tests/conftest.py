"""Shared fixtures.  The native build variant is WIREMATCH_BUILD (default release)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from wirematch.nic.testhost import veth_pair  # noqa: F401  (fixture: veth pair + netns)


@pytest.fixture
def shm_name() -> Iterator[str]:
    """A unique shared-memory region name, unlinked after the test."""
    from wirematch.pipeline.native import shm

    name = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield name
    shm.Region.unlink(name, missing_ok=True)
