"""The notebook layer against the strict stand-in of the cloud service: no offline badge, the
estimated cost from catalog pricing, the API key nowhere in outputs or the cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from testkit.standin import StandIn
from venice_nb.notebook.speech import Speech

KEY = "test-key"
KOKORO_USD_PER_MILLION_CHARS = 3.5  # catalog.json pricing.input.usd of tts-kokoro


def test_cloud_speech_shows_the_estimated_cost_and_no_offline_badge(
    cloud_shell: tuple[InteractiveShell, StandIn], tmp_path: Path
) -> None:
    sh, server = cloud_shell
    text = "A priced sentence from the cloud."
    with capture_output() as out:
        result = sh.run_cell(f"%%venice_speak --voice af_sky\n{text}")
    speech = result.result
    assert isinstance(speech, Speech), out.stderr
    assert not speech.offline
    assert speech.cost_usd == pytest.approx(KOKORO_USD_PER_MILLION_CHARS * len(text) / 1e6)
    data, _ = sh.display_formatter.format(speech)
    assert "≈ $0.0001" in data["text/html"] and "offline engine" not in data["text/html"]
    assert not server.violations, server.violations

    with capture_output():
        again = sh.run_cell(f"%%venice_speak --voice af_sky\n{text}").result
    assert again.cached and "not charged again" in repr(again)
    speech_requests = [r for r in server.requests if r.path.endswith("/audio/speech")]
    assert len(speech_requests) == 1

    everything = repr(speech) + data["text/html"] + data["text/plain"]
    assert KEY not in everything
    for path in (tmp_path / "cache").rglob("*"):
        assert KEY not in path.name
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()


def test_cloud_errors_are_one_line(cloud_shell: tuple[InteractiveShell, StandIn]) -> None:
    sh, _ = cloud_shell
    with capture_output() as out:
        result = sh.run_cell("%%venice_speak --model tts-kokoro --voice Aurora\nHello")
    assert result.result is None
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "venice_nb: Voice 'Aurora' is not a voice of tts-kokoro"
    )


def test_cloud_transcript_shows_the_estimated_cost(
    cloud_shell: tuple[InteractiveShell, StandIn],
) -> None:
    sh, _ = cloud_shell
    with capture_output() as out:
        sh.run_cell("%%venice_speak --voice af_sky --format wav --var s\nPriced listening, too.")
        transcript = sh.run_cell("%venice_transcribe s").result
    assert transcript is not None, out.stderr
    assert not transcript.offline and transcript.duration
    parakeet_usd_per_second = 0.0001  # catalog.json per_audio_second of the default ASR model
    assert transcript.cost_usd == pytest.approx(parakeet_usd_per_second * transcript.duration)
    assert [f"≈ ${transcript.cost_usd:.4f}", "cost"] in transcript.badges()
