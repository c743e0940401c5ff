"""Long audio and video: cut at quiet moments, sent in parallel, merged with true offsets, cached,
and honest about what failed or could not be decoded (venice_nb.longform).

Against ``testkit.longform.ToneStub``, a loopback service that hears tone "words" exactly, so
every word's time is known; the offline engine's real recognition is in test_longform_local.py.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from testkit.longform import RATE, Spoken, ToneStub, render, tone_recording, write_audio
from venice_nb.core import (
    AuthenticationError,
    IncompleteTranscriptionError,
    InvalidRequestError,
    VeniceClient,
)
from venice_nb.longform import LongProgress, cut_pieces, open_media, transcribe_file
from venice_nb.longform.pieces import quietest_cut

KEY = "test-key-longform-0123456789"
TOL = 0.05  # the stub's 10 ms frames, mp3's frame edges


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[ToneStub]:
    async with ToneStub() as server:
        yield server


@pytest_asyncio.fixture
async def tone_client(stub: ToneStub) -> AsyncIterator[VeniceClient]:
    async with VeniceClient(api_key=KEY, base_url=stub.base_url, max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    """About three minutes of tone sentences as WAV."""
    samples, spoken = tone_recording(180)
    path = tmp_path_factory.mktemp("long") / "meeting.wav"
    return write_audio(path, samples), spoken


def assert_heard(words: list, spoken: list[Spoken]) -> None:
    assert [w.word for w in words] == [s.word for s in spoken]
    for got, want in zip(words, spoken, strict=True):
        assert abs(got.start - want.start) <= TOL, (got, want)
        assert abs(got.end - want.end) <= TOL, (got, want)


def test_cuts_fall_in_the_quietest_stretch_near_its_end() -> None:
    samples, spoken = render([["alpha", "bravo"], ["charlie"]], [0.5, 1.6])
    # Between bravo's end and charlie's start lies a 1.6 s pause: the cut lands in it, about
    # 150 ms before charlie begins.
    cut = quietest_cut(samples, 0, samples.size) / RATE
    assert spoken[1].end < cut < spoken[2].start
    assert spoken[2].start - cut == pytest.approx(0.15, abs=0.05)


def test_pieces_are_at_most_the_limit_and_cover_every_sample_once() -> None:
    samples, spoken = tone_recording(150)
    pieces = list(cut_pieces(iter(np.array_split(samples, 37)), max_piece_seconds=20, search_seconds=8))
    assert len(pieces) >= samples.size / RATE / 20
    assert all(p.samples.size <= 20 * RATE for p in pieces)
    assert pieces[0].start == 0
    for a, b in itertools.pairwise(pieces):
        assert b.start == a.start + a.samples.size  # no overlap, nothing lost
    assert np.array_equal(np.concatenate([p.samples for p in pieces]), samples)
    for p in pieces[1:]:  # never inside a word
        assert not any(s.start < p.offset < s.end for s in spoken)


async def test_a_long_file_is_cut_sent_in_parallel_and_merged_with_true_offsets(
    stub: ToneStub, tone_client: VeniceClient, recording: tuple[Path, list[Spoken]], tmp_path: Path
) -> None:
    path, spoken = recording
    stub.delay = 1.5  # much longer than preparing a piece, so pieces pile up in flight
    seen: list[LongProgress] = []
    result = await transcribe_file(
        tone_client,
        path,
        max_piece_seconds=30,
        search_seconds=10,
        concurrency=3,
        cache=tmp_path / "cache",
        on_progress=seen.append,
    )
    assert result.pieces >= 6
    assert result.requests == stub.requests == result.pieces
    assert stub.max_in_flight == 3
    assert all(kind == "audio/mpeg" for kind, _ in stub.uploads)  # compact mp3 pieces
    assert_heard(result.words, spoken)
    assert result.text.split() == [s.word for s in spoken]
    assert len(result.segments) == len(
        {round(s.start) for s in result.segments}
    )  # one per sentence, none doubled
    assert result.duration == pytest.approx(open_media(path).header_seconds, abs=0.01)
    last = seen[-1]
    assert last.pieces_done == last.pieces_total == result.pieces
    assert last.seconds_done == pytest.approx(last.seconds_total)
    assert [p.seconds_done for p in seen] == sorted(p.seconds_done for p in seen)


async def test_a_file_that_fits_one_request_is_sent_as_it_is(
    stub: ToneStub, tone_client: VeniceClient, tmp_path: Path
) -> None:
    samples, spoken = tone_recording(20)
    path = write_audio(tmp_path / "short.wav", samples)
    result = await transcribe_file(tone_client, path, cache=False)
    assert stub.uploads == [("audio/wav", path.stat().st_size)]
    assert result.requests == 1
    assert_heard(result.words, spoken)


async def test_the_first_piece_leaves_before_half_the_file_is_decoded(
    stub: ToneStub, tone_client: VeniceClient, recording: tuple[Path, list[Spoken]]
) -> None:
    path, _ = recording
    stub.hold, stub.hold_from = asyncio.Event(), 2
    seen: list[LongProgress] = []
    task = asyncio.create_task(
        transcribe_file(
            tone_client, path, max_piece_seconds=10, search_seconds=4, concurrency=2,
            cache=False, on_progress=seen.append,
        )
    )
    while stub.requests < 3:  # the first answered, then two held in flight  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # let decoding run ahead as far as it is allowed to
    decoded = seen[-1].decoded_seconds
    total = open_media(path).header_seconds
    assert total is not None
    # One piece answered, two in flight, two waiting, one being prepared: decoding stays bounded.
    assert decoded <= 7 * 10 < total / 2
    stub.hold.set()
    result = await task
    assert result.pieces >= 12


async def test_a_failing_piece_keeps_the_others_and_a_rerun_sends_only_it(
    stub: ToneStub, tone_client: VeniceClient, recording: tuple[Path, list[Spoken]], tmp_path: Path
) -> None:
    path, spoken = recording
    # Pieces holding the rarest word are refused for good (400): not retried, not lost silently.
    rare = min({s.word for s in spoken}, key=lambda w: sum(s.word == w for s in spoken))
    stub.fail_on[rare] = [400]
    stub.forever = True
    kwargs = dict(max_piece_seconds=30, search_seconds=10, concurrency=2, cache=tmp_path / "c")
    with pytest.raises(IncompleteTranscriptionError) as caught:
        await transcribe_file(tone_client, path, **kwargs)
    err = caught.value
    assert err.missing and all("HTTP 400" in g.reason for g in err.missing)
    assert all(any(g.start <= s.start < g.end for g in err.missing) for s in spoken if s.word == rare)
    missing = [s for s in spoken if any(g.start <= s.start < g.end for g in err.missing)]
    kept = [s for s in spoken if s not in missing]
    assert kept, "some pieces must have been heard"
    assert_heard(err.transcript.words, kept)  # everything else heard, at its true time
    assert err.transcript.gaps == err.missing
    first = stub.requests
    assert first == err.transcript.pieces  # a 400 is not retried
    failed = first - stub.answered
    stub.fail_on.clear()
    result = await transcribe_file(tone_client, path, **kwargs)
    assert stub.requests - first == failed  # only the missing pieces are sent again
    assert result.cached == result.pieces - failed
    assert_heard(result.words, spoken)


async def test_transient_failures_are_retried_and_a_bad_key_stops_everything(
    stub: ToneStub, tone_client: VeniceClient, recording: tuple[Path, list[Spoken]]
) -> None:
    path, spoken = recording
    stub.fail_on["tango"] = [503, 500]
    result = await transcribe_file(
        tone_client, path, max_piece_seconds=30, search_seconds=10, cache=False
    )
    assert result.requests == result.pieces + 2
    assert_heard(result.words, spoken)
    stub.fail_on["alpha"] = [401]
    stub.forever = True
    before = stub.requests
    with pytest.raises(AuthenticationError):
        await transcribe_file(
            tone_client, path, max_piece_seconds=30, search_seconds=10, concurrency=2, cache=False
        )
    assert stub.requests - before < result.pieces  # stopped, not every piece tried


async def test_video_is_transcribed_from_its_audio_track_and_track_picks_another(
    stub: ToneStub, tone_client: VeniceClient, tmp_path: Path
) -> None:
    first, spoken = tone_recording(25, seed=1)
    second, spoken2 = tone_recording(25, seed=5)
    n = max(first.size, second.size)
    first, second = (np.pad(x, (0, n - x.size)) for x in (first, second))
    video = write_audio(
        tmp_path / "screen.mp4", first, fmt="mp4", codec="aac", video=True,
        extra_tracks=[second],
    )
    result = await transcribe_file(tone_client, video, cache=False)
    assert stub.uploads[0][0] == "audio/mpeg"  # the audio alone, re-encoded: never the video
    assert [w.word for w in result.words] == [s.word for s in spoken if s.end <= n / RATE]
    other = await transcribe_file(tone_client, video, track=1, cache=False)
    assert [w.word for w in other.words] == [s.word for s in spoken2 if s.end <= n / RATE]
    with pytest.raises(InvalidRequestError, match=r"no audio track 2.*0 \(.*1 \("):
        await transcribe_file(tone_client, video, track=2, cache=False)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d.joinpath("notes.mp3").write_bytes(b"This is not audio at all. " * 400), "not audio or video"),
        (lambda d: write_audio(d / "silent-film.mp4", np.zeros(0, np.int16), fmt="mp4", codec="aac", video=False) and _video_only(d), "no audio track"),
        (lambda d: d.joinpath("empty.wav").write_bytes(b""), "empty"),
    ],
    ids=["not-media", "video-without-audio", "empty"],
)
async def test_bad_media_is_one_clear_error_before_any_request(
    stub: ToneStub, tone_client: VeniceClient, tmp_path: Path, make, message: str
) -> None:
    make(tmp_path)
    path = sorted(p for p in tmp_path.iterdir() if p.is_file())[-1]
    with pytest.raises(InvalidRequestError, match=message):
        await transcribe_file(tone_client, path, cache=False)
    assert stub.requests == 0


def _video_only(folder: Path) -> Path:
    import av

    path = folder / "video-only.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        st = out.add_stream("mpeg4", rate=5)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            for packet in st.encode(frame):
                out.mux(packet)
        for packet in st.encode(None):
            out.mux(packet)
    for other in folder.iterdir():
        if other != path:
            other.unlink()
    return path


async def test_a_truncated_file_gives_what_decodes_and_says_where_it_stopped(
    stub: ToneStub, tone_client: VeniceClient, recording: tuple[Path, list[Spoken]], tmp_path: Path
) -> None:
    path, spoken = recording
    data = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])  # the header still says the full length
    result = await transcribe_file(
        tone_client, cut, max_piece_seconds=30, search_seconds=10, cache=False
    )
    half = (len(data) // 2 - 44) / 2 / RATE
    assert result.duration == pytest.approx(half, abs=0.05)
    whole = [w for w in result.words if w.end < half - 0.05]  # the last word may be cut
    assert_heard(whole, [s for s in spoken if s.end < half - 0.05])
    assert len(result.warnings) == 1
    assert "truncated" in result.warnings[0] and "header says" in result.warnings[0]


async def test_long_silence_is_an_empty_transcript_with_no_request(
    stub: ToneStub, tone_client: VeniceClient, tmp_path: Path
) -> None:
    samples = np.zeros(RATE * 60 * 20, np.int16)  # 20 minutes of silence, as FLAC (a few KB)
    path = write_audio(tmp_path / "quiet.flac", samples, fmt="flac", codec="flac")
    result = await transcribe_file(tone_client, path, cache=False)
    assert result.text == "" and result.words == []
    assert result.duration == pytest.approx(1200, abs=0.01)
    assert stub.requests == 0


async def test_a_claimed_impossible_sample_rate_is_refused(
    stub: ToneStub, tone_client: VeniceClient, tmp_path: Path
) -> None:
    import struct

    samples, _ = tone_recording(10)
    path = write_audio(tmp_path / "liar.wav", samples)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 24, 2_000_000_000)  # fmt chunk: sample rate
    struct.pack_into("<I", data, 28, 4_000_000_000)  # byte rate
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidRequestError):
        await transcribe_file(tone_client, path, cache=False)
    assert stub.requests == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [("concurrency", 0), ("max_piece_seconds", 0.5), ("search_seconds", -1), ("language", "english")],
)
async def test_bad_options_are_refused_before_any_request(
    stub: ToneStub, tone_client: VeniceClient, recording: tuple[Path, list[Spoken]], option: str, value: object
) -> None:
    path, _ = recording
    with pytest.raises(InvalidRequestError, match=option.split("_")[0]):
        await transcribe_file(tone_client, path, cache=False, **{option: value})
    assert stub.requests == 0


def test_the_cli_writes_a_partial_transcript_and_exits_9_with_the_missing_stretches(
    recording: tuple[Path, list[Spoken]], tmp_path: Path
) -> None:
    path, spoken = recording
    rare = min({s.word for s in spoken}, key=lambda w: sum(s.word == w for s in spoken))
    stub = ToneStub(fail_on={rare: [503]}, forever=True)
    out = tmp_path / "meeting.srt"
    with stub.in_thread() as base_url:
        env = {
            "VENICE_BASE_URL": base_url,
            "VENICE_API_KEY": KEY,
            "VENICE_NB_CACHE_DIR": str(tmp_path / "cache"),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "venice_nb", "transcribe", str(path), "--format", "srt",
             "--out", str(out), "--max-piece-seconds", "30", "--progress", "never"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 9, proc.stderr
        assert "missing 0:0" in proc.stderr and "HTTP 503" in proc.stderr
        assert "Wrote the partial transcript" in proc.stderr
        text = out.read_text()
        heard = [s.word for s in spoken if s.word != rare]
        assert sum(word in text for word in heard) > len(set(heard)) / 2
        assert KEY not in proc.stderr + proc.stdout + text
        bad = subprocess.run(
            [sys.executable, "-m", "venice_nb", "transcribe", str(path), "--track", "3"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert bad.returncode == 2 and "no audio track 3" in bad.stderr


@pytest.fixture
def tone_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """An IPython shell with ``%load_ext venice_nb`` whose backend is a ToneStub."""
    from IPython.core.interactiveshell import InteractiveShell

    from venice_nb import session
    from venice_nb.notebook import runner

    stub = ToneStub()
    with stub.in_thread() as base_url:
        monkeypatch.setenv("VENICE_BASE_URL", base_url)
        monkeypatch.setenv("VENICE_API_KEY", KEY)
        monkeypatch.setenv("VENICE_NB_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setattr(session, "_backend", None)
        monkeypatch.chdir(tmp_path)
        sh = InteractiveShell.instance()
        sh.run_line_magic("load_ext", "venice_nb")
        try:
            yield sh, stub
        finally:
            sh.run_line_magic("unload_ext", "venice_nb")
            runner.shutdown()


def test_the_magic_transcribes_a_long_file_and_shows_what_a_failing_piece_leaves(
    tone_shell, recording: tuple[Path, list[Spoken]], capsys: pytest.CaptureFixture[str]
) -> None:
    sh, stub = tone_shell
    path, spoken = recording
    rare = min({s.word for s in spoken}, key=lambda w: sum(s.word == w for s in spoken))
    stub.fail_on[rare], stub.forever = [400], True
    sh.run_line_magic("venice_transcribe", f"{path} --max-piece-seconds 30 --var part")
    err = capsys.readouterr().err
    assert "could not be transcribed" in err and "HTTP 400" in err
    part = sh.user_ns["part"]
    assert part.words and all(w.word != rare for w in part.words)
    assert len(part.words) < len(spoken)
    assert part.gaps and all("HTTP 400" in g.reason for g in part.gaps)
    assert "missing" in str(part)  # the view and its text name each missing stretch
    sent = stub.requests
    stub.fail_on.clear()
    sh.run_line_magic("venice_transcribe", f"{path} --max-piece-seconds 30 --var whole")
    whole = sh.user_ns["whole"]
    assert_heard(whole.words, spoken)
    assert stub.requests - sent < sent  # the pieces heard before came from the cache
    assert KEY not in capsys.readouterr().err
    sh.run_line_magic("venice_cache", "")
    assert re.search(r"; [1-9][0-9]* transcribed pieces", capsys.readouterr().out)
    sh.run_line_magic("venice_cache", "clear")
    assert "transcribed pieces" in capsys.readouterr().out
    sh.run_line_magic("venice_cache", "")
    assert "; 0 transcribed pieces" in capsys.readouterr().out
