"""The fault suite: transient faults are survived within the retry budget, the rest are typed.

Runs against the strict stand-in on 127.0.0.1 with faults queued per request (seeded plans), so
every logical request's attempts can be counted from ``standin.requests``.
"""

from __future__ import annotations

from pathlib import Path

from audio_fixtures import encode, tone
from standin import Fault, StandIn

from venice_nb import VeniceClient

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
