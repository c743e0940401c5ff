"""transcribe_many on one machine: sources as a folder, a glob, a list, a pandas Series or
DataFrame; one transcript file per source, skipped when present; bad input refused before any
request; a refused file fails alone; paced by the rate-limit headers. Against the rate-limited
loopback stub (testkit/ratelimit.py), which answers a fixed transcript per file name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.audio_fixtures import wav_bytes
from testkit.ratelimit import RateLimitedStub
from venice_nb import InvalidRequestError, session, transcribe_many

KEY = "test-key"


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[RateLimitedStub]:
    server = RateLimitedStub(limit=1000, window=10.0)
    with server.in_thread() as base_url:
        monkeypatch.setenv("VENICE_BASE_URL", base_url)
        monkeypatch.setenv("VENICE_API_KEY", KEY)
        session.reset_backend()
        yield server
    session.reset_backend()


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    folder = tmp_path / "calls"
    folder.mkdir()
    audio = wav_bytes(0.2)
    for i in range(6):
        (folder / f"call-{i}.wav").write_bytes(audio)
    (folder / "notes.txt").write_text("not audio")
    return folder


def sent(stub: RateLimitedStub) -> int:
    return sum(stub.attempts.values())


def test_a_folder_becomes_one_json_transcript_per_recording_and_a_rerun_sends_nothing(
    stub: RateLimitedStub, calls: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = transcribe_many(calls, out_dir=out, progress=False)
    assert report.ok and len(report.done) == 6 and report.requests == 6
    assert sorted(p.name for p in out.iterdir()) == [f"call-{i}.json" for i in range(6)]
    data = json.loads((out / "call-2.json").read_text())
    assert data["text"] == "Transcript of call-2"
    assert [w["word"] for w in data["timestamps"]["word"]] == ["Transcript", "of", "call-2"]
    row = report.to_frame().iloc[2]
    assert (row.path, row.status, row.duration, row.words) == (
        str(calls / "call-2.wav"),
        "done",
        1.5,
        3,
    )
    again = transcribe_many(calls, out_dir=out, progress=False)
    assert len(again.skipped) == 6 and again.requests == 0 and sent(stub) == 6


def test_a_glob_a_list_a_series_and_a_dataframe_name_the_same_sources(
    stub: RateLimitedStub, calls: Path, tmp_path: Path
) -> None:
    pd = pytest.importorskip("pandas")
    paths = [calls / "call-1.wav", calls / "call-3.wav"]
    for n, sources in enumerate(
        [
            str(calls / "call-[13].wav"),
            paths,
            pd.Series(paths),
            pd.DataFrame({"path": [str(p) for p in paths]}),
        ]
    ):
        report = transcribe_many(sources, out_dir=tmp_path / f"o{n}", format="txt", progress=False)
        assert [r.source for r in report.items] == paths
        assert (tmp_path / f"o{n}" / "call-3.txt").read_text() == "Transcript of call-3\n"


def test_subtitles_formats(stub: RateLimitedStub, calls: Path, tmp_path: Path) -> None:
    transcribe_many([calls / "call-0.wav"], out_dir=tmp_path, format="srt", progress=False)
    transcribe_many([calls / "call-0.wav"], out_dir=tmp_path, format="vtt", progress=False)
    assert (tmp_path / "call-0.srt").read_text().startswith("1\n00:00:00,000 --> 00:00:01,400")
    assert (tmp_path / "call-0.vtt").read_text().startswith("WEBVTT")


@pytest.mark.parametrize(
    ("sources", "kwargs", "message"),
    [
        ("missing.wav", {}, "is not a file"),
        ("*.nothing", {}, "No file matches"),
        ([], {}, "no sources"),
        (["a/x.wav", "b/x.wav"], {}, "would both be written to x.json"),
        (["a/x.wav"], {"format": "docx"}, "Unknown format"),
        (["a/x.wav"], {"concurrency": 0}, "concurrency"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    stub: RateLimitedStub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sources: object,
    kwargs: dict[str, object],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.wav").write_bytes(wav_bytes(0.1))
    with pytest.raises(InvalidRequestError, match=message):
        transcribe_many(sources, out_dir=tmp_path / "out", progress=False, **kwargs)  # type: ignore[arg-type]
    assert sent(stub) == 0


def test_a_refused_file_fails_alone_with_its_reason(
    stub: RateLimitedStub, calls: Path, tmp_path: Path
) -> None:
    stub.fail("call-4.wav", 422)
    report = transcribe_many(calls, out_dir=tmp_path / "out", progress=False)
    assert [r.source.name for r in report.failed] == ["call-4.wav"]
    assert "content policy" in (report.failed[0].reason or "")
    assert len(report.done) == 5 and not (tmp_path / "out" / "call-4.json").exists()
    assert report.to_frame().set_index("path").loc[str(calls / "call-4.wav"), "status"] == "failed"


def test_429s_hold_the_batch_and_are_retried(
    stub: RateLimitedStub, calls: Path, tmp_path: Path
) -> None:
    stub.limit, stub.window = 3, 0.5
    report = transcribe_many(calls, out_dir=tmp_path / "out", progress=False)
    assert report.ok and len(report.done) == 6
    assert stub.rejected_429 <= 1  # the headers paced it; a first burst may meet one


def test_the_summary_goes_to_parquet(stub: RateLimitedStub, calls: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    report = transcribe_many(calls, out_dir=tmp_path / "out", progress=False)
    report.to_parquet(tmp_path / "summary.parquet")
    back = pd.read_parquet(tmp_path / "summary.parquet")
    assert list(back.columns[:5]) == ["path", "status", "duration", "words", "reason"]
    assert list(back.words) == [3] * 6


def test_the_cli_batch_needs_an_out_dir_and_no_single_file(
    stub: RateLimitedStub, calls: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from venice_nb.cli import main

    assert main(["transcribe"]) == 2
    assert "--batch FOLDER|GLOB --out-dir DIR" in capsys.readouterr().err
    assert main(["transcribe", "--batch", str(calls)]) == 2
    assert "needs --out-dir" in capsys.readouterr().err
    assert main(["transcribe", "x.wav", "--batch", str(calls), "--out-dir", "o"]) == 2
    assert "drop the FILE" in capsys.readouterr().err
    assert sent(stub) == 0
    assert main(["transcribe", "--batch", str(calls), "--out-dir", str(tmp_path / "o")]) == 0
    assert "6 sources: 6 done" in capsys.readouterr().out
    assert (tmp_path / "o" / "call-5.txt").read_text() == "Transcript of call-5\n"
