"""The fault suite: transient faults are survived within the retry budget, the rest are typed.

Runs against the strict stand-in on 127.0.0.1 with faults queued per request (seeded plans), so
every logical request's attempts can be counted from ``standin.requests``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from audio_fixtures import encode, tone
from standin import Fault, StandIn

from venice_nb import VeniceClient
from venice_nb.core.errors import InvalidRequestError

SPEECH = "/audio/speech"
TRANSCRIBE = "/audio/transcriptions"
VOICES = "/audio/voices"


async def test_a_file_object_upload_survives_a_retry_and_stays_open(
    standin: StandIn, tmp_path: Path
) -> None:
    sample = tmp_path / "sample.wav"
    sample.write_bytes(encode("wav", tone(5.5)))
    async with VeniceClient(api_key="test-key", base_url=standin.base_url, max_retries=2) as client:
        with sample.open("rb") as fh:
            standin.inject(TRANSCRIBE, Fault.status(503), Fault.reset_before_body())
            result = await client.audio.transcribe(file=fh)
            assert not isinstance(result, str) and result.text
            assert not fh.closed  # the caller's file is the caller's to close
            standin.inject(VOICES, Fault.status(502))
            fh.seek(0)
            voice = await client.audio.create_voice(file=fh)
            assert voice.id.startswith("vv_")
    assert standin.count(TRANSCRIBE) == 3 and standin.count(VOICES) == 2
    sizes = {r.files["file"].size for r in standin.requests if r.files}
    assert sizes == {sample.stat().st_size}  # every attempt sent the whole file


async def test_backoff_option_sets_the_first_wait_and_doubles(standin: StandIn) -> None:
    say = {"input": "Backoff check.", "model": "tts-kokoro", "voice": "af_heart"}
    async with VeniceClient(
        api_key="test-key", base_url=standin.base_url, max_retries=3, backoff=0.1
    ) as client:
        await client.models.list("tts")
        standin.inject(SPEECH, Fault.status(503), Fault.reset_before_body(), Fault.status(500))
        started = time.monotonic()
        await client.audio.create_speech(**say)
        waited = time.monotonic() - started
    # 0.1 + 0.2 + 0.4 s, each within +-25 % jitter; the default (0.5 s) would wait >= 2.6 s.
    assert 0.7 * 0.75 <= waited < 0.7 * 1.25 + 0.5
    assert standin.count(SPEECH) == 4


@pytest.mark.parametrize("bad", [-0.1, "1", True, float("nan")])
def test_backoff_must_be_a_non_negative_number(bad: object) -> None:
    with pytest.raises(InvalidRequestError, match="backoff"):
        VeniceClient(api_key="k", base_url="http://127.0.0.1:9/api/v1", backoff=bad)  # type: ignore[arg-type]
