"""Long speech through the offline engine: real recognition of a recording cut into pieces,
every sentence found at its true start, including right after each cut (venice_nb.longform)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("faster_whisper")

from testkit.longform import RATE, speech_recording, start_errors, write_audio
from testkit.quality import word_error_rate
from venice_nb.core import VeniceClient
from venice_nb.local import LocalConfig, LocalServer
from venice_nb.longform import transcribe_file

pytestmark = [pytest.mark.local, pytest.mark.slow]
TOKEN = "longform-local-token-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    config = LocalConfig(data_dir=tmp_path_factory.mktemp("longform"), token=TOKEN, fast=True)
    with LocalServer(config) as srv:
        yield srv


def test_a_recording_in_pieces_is_heard_whole_with_every_sentence_at_its_start(
    server: LocalServer, tmp_path: Path
) -> None:
    async def run() -> None:
        async with VeniceClient(api_key=TOKEN, base_url=server.base_url) as client:
            samples, truth = await speech_recording(client, 14)
            path = write_audio(tmp_path / "talk.flac", samples, fmt="flac", codec="flac")
            result = await transcribe_file(
                client, path, max_piece_seconds=20, search_seconds=8, concurrency=2, cache=False
            )
            assert result.pieces >= 3
            assert result.duration == pytest.approx(samples.size / RATE, abs=0.01)
            reference = " ".join(s.text for s in truth)
            assert word_error_rate(reference, result.text) <= 0.10
            errors = start_errors(result.words, truth)
            assert sum(e <= 0.3 for e in errors) >= len(truth) - 1, list(zip(truth, errors, strict=True))
            assert max(errors) <= 0.5, errors  # another CPU moves word times a little
            # No drift: the last sentences sit where they were spoken.
            assert max(errors[-3:]) <= 0.3, errors

    asyncio.run(run())
