"""client.audio against the strict stand-in: the seed's methods, formats and bad input."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import pytest

from testkit.audio_fixtures import wav_bytes
from testkit.standin import StandIn, speech_seconds
from venice_nb import VeniceClient
from venice_nb.core.audio import REGION_LANGUAGE_MAPPING
from venice_nb.core.errors import InvalidRequestError, NotFoundError
from venice_nb.core.files import AudioInput, open_audio_input
from venice_nb.core.segments import finalize
from venice_nb.core.types import AudioResponse, AudioTranscriptionResponse, ResponseFormat, Voice

SPEECH = "/audio/speech"
SAY: dict[str, Any] = {"input": "Hello there.", "model": "tts-kokoro", "voice": "af_heart"}


def decoded_seconds(data: bytes, fmt: str, rate: int = 24000) -> float:
    if fmt == "pcm":
        return len(data) / 2 / rate
    with av.open(io.BytesIO(data)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
        return samples / container.streams.audio[0].codec_context.sample_rate


# -- speech ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
async def test_create_speech_returns_every_format(
    client: VeniceClient, standin: StandIn, fmt: str
) -> None:
    audio = await client.audio.create_speech(**SAY, response_format=fmt)
    assert isinstance(audio, AudioResponse) and isinstance(audio, bytes)
    assert audio.format == fmt and audio.model == "tts-kokoro" and audio.voice == "af_heart"
    assert audio.request_id
    seconds = decoded_seconds(audio.content, fmt)
    assert seconds > 0.2
    if fmt in ("wav", "pcm", "flac", "mp3", "aac"):
        assert audio.duration == pytest.approx(seconds, abs=0.08)
    assert standin.violations == []


async def test_enum_values_are_accepted(client: VeniceClient, standin: StandIn) -> None:
    audio = await client.audio.create_speech(
        input="Hi.", model="tts-kokoro", voice=Voice.AF_SKY, response_format=ResponseFormat.WAV
    )
    assert audio.format == "wav"
    sent = standin.requests[-1].json
    assert sent["voice"] == "af_sky" and sent["response_format"] == "wav"


async def test_optional_parameters_are_sent_only_when_given(
    client: VeniceClient, standin: StandIn
) -> None:
    await client.audio.create_speech(**SAY)
    assert set(standin.requests[-1].json) == {"input", "model", "voice"}
    await client.audio.create_speech(
        input="Hi.",
        model="tts-qwen3-0-6b",
        voice="Vivian",
        speed=1.5,
        language="English",
        prompt="Very happy.",
        temperature=0.7,
        top_p=0.9,
    )
    sent = standin.requests[-1].json
    assert sent["speed"] == 1.5 and sent["prompt"] == "Very happy." and sent["top_p"] == 0.9
    assert standin.violations == []


async def test_save_writes_the_whole_file(client: VeniceClient, tmp_path: Path) -> None:
    audio = await client.audio.create_speech(**SAY, response_format="wav")
    audio.save(tmp_path / "out.wav")
    assert (tmp_path / "out.wav").read_bytes() == bytes(audio)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


BAD_SPEECH: list[tuple[dict[str, Any], str]] = [
    ({"input": ""}, "empty"),
    ({"input": "   \n\t"}, "whitespace"),
    ({"input": "x" * 4097}, "stream_long_text"),
    ({"input": 42}, "string"),
    ({"speed": 5.0}, "speed"),
    ({"speed": 0.1}, "speed"),
    ({"speed": "fast"}, "speed"),
    ({"temperature": -0.5}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"prompt": "p" * 501}, "prompt"),
    ({"language": "x"}, "language"),
    ({"voice": "af_hart"}, "af_heart"),
    ({"voice": "AF_HEART"}, "case-sensitive"),
    ({"voice": "Vivian"}, "not a voice of tts-kokoro"),
    ({"voice": ""}, "voice"),
    ({"model": "tts-nope"}, "Unknown tts model"),
    ({"model": "tts-qwen3-0-6b", "voice": "Vivian", "response_format": "wav"}, "supports mp3"),
    ({"response_format": "ogg"}, "Unknown response_format"),
    ({"stream": "yes"}, "stream"),
]


@pytest.mark.parametrize(("change", "expected"), BAD_SPEECH, ids=[e for _, e in BAD_SPEECH])
async def test_bad_speech_input_is_refused_before_any_request(
    client: VeniceClient, standin: StandIn, change: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidRequestError, match=expected) as info:
        await client.audio.create_speech(**{**SAY, **change})
    assert isinstance(info.value, ValueError)
    assert standin.count(SPEECH) == 0


@pytest.mark.parametrize(
    ("change", "expected"),
    [c for c in BAD_SPEECH if "stream" not in c[0]],
    ids=[e for c, e in BAD_SPEECH if "stream" not in c],
)
async def test_speech_request_checks_as_create_speech_does_and_sends_nothing(
    client: VeniceClient, standin: StandIn, change: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidRequestError, match=expected):
        await client.audio.speech_request(**{**SAY, **change})
    request = await client.audio.speech_request(**SAY, response_format="flac", speed=1.5)
    assert request.body == {**SAY, "response_format": "flac", "speed": 1.5}
    assert request.model is not None and request.model.id == SAY["model"]
    assert standin.count(SPEECH) == 0


async def test_cloned_and_custom_voice_ids_pass_validation(
    client: VeniceClient, standin: StandIn
) -> None:
    cloned = await client.audio.create_voice(file=wav_bytes(6.0), model="tts-chatterbox-hd")
    audio = await client.audio.create_speech(
        input="Hi.", model="tts-chatterbox-hd", voice=cloned.id
    )
    assert len(audio) > 0
    await client.audio.create_speech(
        input="Hi.", model="tts-elevenlabs-turbo-v2-5", voice="21m00Tcm4TlvDq8ikWAM"
    )
    assert standin.violations == []


async def test_server_rejections_still_map_to_typed_errors(
    client: VeniceClient, standin: StandIn
) -> None:
    # vv_ handles pass the client; the server knows this one is foreign.
    with pytest.raises(Exception) as info:
        await client.audio.create_speech(input="Hi.", model="tts-chatterbox-hd", voice="vv_unknown")
    assert getattr(info.value, "status", None) == 400
    assert standin.count(SPEECH) == 1


# -- long text ---------------------------------------------------------------------------------
LONG = " ".join(f"Sentence number {i} is here to make the text long enough." for i in range(60))


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
async def test_stream_long_text_joins_one_valid_file(
    client: VeniceClient, standin: StandIn, fmt: str
) -> None:
    progress: list[int] = []
    chunks = [
        c
        async for c in client.audio.stream_long_text(
            input=LONG,
            model="tts-kokoro",
            voice="af_heart",
            response_format=fmt,
            max_words_per_segment=60,
            on_segment_complete=lambda p: progress.append(p.index),
        )
    ]
    segments = [r for r in standin.requests if r.path.endswith(SPEECH)]
    assert len(segments) == len(progress) >= 6
    whole = finalize(fmt, b"".join(chunks))
    expected = sum(speech_seconds("tts-kokoro", r.json["input"], 1.0) for r in segments)
    got = decoded_seconds(whole, fmt)
    # Encoder priming/padding adds at most a few frames per segment (mp3, aac, opus).
    assert expected - 0.05 <= got <= expected + 0.08 * len(segments)
    sent = [r.json["input"] for r in segments]
    assert " ".join(sorted(sent, key=LONG.index)) == LONG
    assert standin.violations == []


async def test_stream_long_text_keeps_input_order_under_concurrency(
    client: VeniceClient, standin: StandIn
) -> None:
    standin.latency = 0.05
    pieces = [
        c
        async for c in client.audio.stream_long_text(
            input=LONG,
            model="tts-kokoro",
            voice="af_heart",
            response_format="pcm",
            max_words_per_segment=40,
            max_concurrency=4,
        )
    ]
    texts = sorted(
        (r.json["input"] for r in standin.requests if r.path.endswith(SPEECH)), key=LONG.index
    )
    one_by_one = [
        await client.audio.create_speech(
            input=t, model="tts-kokoro", voice="af_heart", response_format="pcm"
        )
        for t in texts
    ]
    assert b"".join(pieces) == b"".join(one_by_one)


async def test_qwen3_long_text_uses_25_word_segments(
    client: VeniceClient, standin: StandIn
) -> None:
    text = " ".join(["word"] * 200) + "."
    _ = [
        c
        async for c in client.audio.stream_long_text(
            input=text, model="tts-qwen3-0-6b", voice="Vivian"
        )
    ]
    sent = [r.json["input"] for r in standin.requests if r.path.endswith(SPEECH)]
    assert len(sent) >= 8 and all(len(s.split()) <= 25 for s in sent)


async def test_stream_long_text_validates_before_any_request(
    client: VeniceClient, standin: StandIn
) -> None:
    with pytest.raises(InvalidRequestError, match="supports"):
        async for _ in client.audio.stream_long_text(
            input=LONG, model="tts-gradium-v1", voice="Emma", response_format="mp3"
        ):
            pass
    with pytest.raises(InvalidRequestError, match="max_concurrency"):
        async for _ in client.audio.stream_long_text(
            input=LONG, model="tts-kokoro", voice="af_heart", max_concurrency=0
        ):
            pass
    assert standin.count(SPEECH) == 0


# -- voices ------------------------------------------------------------------------------------
async def test_get_voices_filters_by_model_gender_and_region(client: VeniceClient) -> None:
    everything = await client.audio.get_voices()
    assert len(everything) >= 200
    kokoro = await client.audio.get_voices(model_id="tts-kokoro")
    assert len(kokoro) == 54
    british_men = await client.audio.get_voices(gender="male", region_code="b")
    assert {v.id for v in british_men} == {"bm_daniel", "bm_fable", "bm_george", "bm_lewis"}
    heart = next(v for v in kokoro if v.id == "af_heart")
    assert heart.label == "af_heart: American English, female"
    rachel = next(v for v in everything if v.id == "Rachel")
    assert rachel.gender == "female"
    with pytest.raises(InvalidRequestError, match="region_code"):
        await client.audio.get_voices(region_code="q")


def test_region_mapping_has_all_19_codes() -> None:
    assert len(REGION_LANGUAGE_MAPPING) == 19
    assert REGION_LANGUAGE_MAPPING["x"] == {"language": "English", "accent": "Australian"}


# -- transcription -----------------------------------------------------------------------------
async def test_transcribe_path_bytes_and_file_object(
    client: VeniceClient, standin: StandIn, tmp_path: Path
) -> None:
    data = wav_bytes(1.5)
    path = tmp_path / "talk.wav"
    path.write_bytes(data)
    by_path = await client.audio.transcribe(file=path, timestamps=True)
    by_str = await client.audio.transcribe(file=str(path))
    by_bytes = await client.audio.transcribe(file=data)
    with path.open("rb") as fh:
        by_fh = await client.audio.transcribe(file=fh, response_format="text")
    assert isinstance(by_path, AudioTranscriptionResponse) and by_path.words
    assert by_path.duration == pytest.approx(1.5, abs=0.05)
    assert all(w.end >= w.start for w in by_path.words)
    assert isinstance(by_str, AudioTranscriptionResponse) and isinstance(
        by_bytes, AudioTranscriptionResponse
    )
    assert isinstance(by_fh, str) and by_fh.strip() == by_bytes.text.strip()
    assert standin.violations == []


def test_a_path_upload_streams_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(0.5))
    source = open_audio_input(path)
    payload = source.payload()
    assert isinstance(source, AudioInput) and not isinstance(payload, bytes)
    payload.close()


async def test_bad_uploads_are_refused_before_any_request(
    client: VeniceClient, standin: StandIn, tmp_path: Path
) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio at all, just words")
    big = tmp_path / "big.wav"
    with big.open("wb") as fh:
        fh.write(wav_bytes(0.1))
        fh.seek(26 * 1024 * 1024)
        fh.write(b"\0")
    cases = [
        (tmp_path / "missing.wav", "No such audio file"),
        (tmp_path / "empty.wav", "empty"),
        (tmp_path / "notes.txt", "not audio"),
        (big, "25 MB"),
        (12345, "path, bytes or a binary file"),
        (wav_bytes(0.2)[:30] + b"junk" * 3, None),
    ]
    for source, message in cases[:-1]:
        with pytest.raises(InvalidRequestError, match=message):
            await client.audio.transcribe(file=source)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="response_format"):
        await client.audio.transcribe(file=wav_bytes(), response_format="srt")
    with pytest.raises(InvalidRequestError, match="Unknown asr model"):
        await client.audio.transcribe(file=wav_bytes(), model="whisper-9000")
    assert standin.count("/audio/transcriptions") == 0


async def test_truncated_audio_gets_the_servers_422(client: VeniceClient, standin: StandIn) -> None:
    from venice_nb.core.errors import UnprocessableEntityError

    with pytest.raises(UnprocessableEntityError):
        await client.audio.transcribe(file=wav_bytes(0.5)[:44])


# -- cloning -----------------------------------------------------------------------------------
async def test_create_voice_returns_a_handle_for_its_model(
    client: VeniceClient, standin: StandIn
) -> None:
    voice = await client.audio.create_voice(file=wav_bytes(6.0))
    assert voice.id.startswith("vv_") and voice.model == "tts-chatterbox-hd"
    minimax = await client.audio.create_voice(file=wav_bytes(6.0), model="tts-minimax-speech-02-hd")
    assert minimax.model == "tts-minimax-speech-02-hd"
    assert standin.violations == []


async def test_create_voice_refuses_a_container_the_model_refuses(
    client: VeniceClient, standin: StandIn
) -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=16000, layout="mono")
        import numpy as np

        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 16000), dtype=np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(InvalidRequestError, match="flac"):
        await client.audio.create_voice(file=buf.getvalue(), model="tts-minimax-speech-02-hd")
    with pytest.raises(InvalidRequestError, match="cannot clone"):
        await client.audio.create_voice(file=wav_bytes(6.0), model="tts-kokoro")
    assert standin.count("/audio/voices") == 0


async def test_unknown_model_on_server_side_is_not_found(standin: StandIn) -> None:
    # With validation off (no catalog), the server's 404 surfaces as NotFoundError.
    async with VeniceClient(api_key="test-key", base_url=standin.base_url) as client:
        client.models._cache["tts"] = (1e18, type(await client.models.list("tts"))(data=[]))
        with pytest.raises(NotFoundError):
            await client.audio.create_speech(input="Hi.", model="tts-missing", voice="x")


async def test_speech_output_with_id3_tags_can_be_transcribed(client: VeniceClient) -> None:
    audio = await client.audio.create_speech(**SAY)  # mp3 with an ID3v2 tag and an Info frame
    assert bytes(audio[:3]) == b"ID3"
    result = await client.audio.transcribe(file=bytes(audio))
    assert isinstance(result, AudioTranscriptionResponse) and result.text
