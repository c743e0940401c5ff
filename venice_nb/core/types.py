"""Pydantic models and enums of the Venice audio API: what requests take and answers hold."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AudioResponse",
    "AudioTranscriptionResponse",
    "ClonedVoice",
    "ModelInfo",
    "ModelList",
    "ModelSpec",
    "ResponseFormat",
    "TranscriptionGap",
    "TranscriptionSegment",
    "TranscriptionTimestamps",
    "TranscriptionWord",
    "Voice",
    "VoiceCloning",
    "VoiceDetails",
    "VoiceList",
]


class ResponseFormat(StrEnum):
    """Audio formats the speech endpoint can return."""

    MP3 = "mp3"
    OPUS = "opus"
    AAC = "aac"
    FLAC = "flac"
    WAV = "wav"
    PCM = "pcm"

    def __str__(self) -> str:
        return self.value


CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
FORMAT_BY_CONTENT_TYPE: dict[str, str] = {v: k for k, v in CONTENT_TYPES.items()} | {
    "audio/mp3": "mp3",
    "audio/ogg": "opus",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/x-flac": "flac",
    "audio/l16": "pcm",
}


class Voice(StrEnum):
    """The Kokoro voices of the catalog (``tts-kokoro``). Ids encode region and gender."""

    AF_ALLOY = "af_alloy"
    AF_AOEDE = "af_aoede"
    AF_BELLA = "af_bella"
    AF_HEART = "af_heart"
    AF_JADZIA = "af_jadzia"
    AF_JESSICA = "af_jessica"
    AF_KORE = "af_kore"
    AF_NICOLE = "af_nicole"
    AF_NOVA = "af_nova"
    AF_RIVER = "af_river"
    AF_SARAH = "af_sarah"
    AF_SKY = "af_sky"
    AM_ADAM = "am_adam"
    AM_ECHO = "am_echo"
    AM_ERIC = "am_eric"
    AM_FENRIR = "am_fenrir"
    AM_LIAM = "am_liam"
    AM_MICHAEL = "am_michael"
    AM_ONYX = "am_onyx"
    AM_PUCK = "am_puck"
    AM_SANTA = "am_santa"
    BF_ALICE = "bf_alice"
    BF_EMMA = "bf_emma"
    BF_LILY = "bf_lily"
    BM_DANIEL = "bm_daniel"
    BM_FABLE = "bm_fable"
    BM_GEORGE = "bm_george"
    BM_LEWIS = "bm_lewis"
    EF_DORA = "ef_dora"
    EM_ALEX = "em_alex"
    EM_SANTA = "em_santa"
    FF_SIWIS = "ff_siwis"
    HF_ALPHA = "hf_alpha"
    HF_BETA = "hf_beta"
    HM_OMEGA = "hm_omega"
    HM_PSI = "hm_psi"
    IF_SARA = "if_sara"
    IM_NICOLA = "im_nicola"
    JF_ALPHA = "jf_alpha"
    JF_GONGITSUNE = "jf_gongitsune"
    JF_NEZUMI = "jf_nezumi"
    JF_TEBUKURO = "jf_tebukuro"
    JM_KUMO = "jm_kumo"
    PF_DORA = "pf_dora"
    PM_ALEX = "pm_alex"
    PM_SANTA = "pm_santa"
    ZF_XIAOBEI = "zf_xiaobei"
    ZF_XIAONI = "zf_xiaoni"
    ZF_XIAOXIAO = "zf_xiaoxiao"
    ZF_XIAOYI = "zf_xiaoyi"
    ZM_YUNJIAN = "zm_yunjian"
    ZM_YUNXI = "zm_yunxi"
    ZM_YUNXIA = "zm_yunxia"
    ZM_YUNYANG = "zm_yunyang"

    def __str__(self) -> str:
        return self.value


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AudioResponse(bytes):
    """Speech audio: the bytes themselves (write them to a file as they are) plus what is known
    about them: content type, format, sample rate (pcm), duration where it can be told, and the
    model, voice and request id that produced them."""

    content_type: str
    format: str | None
    model: str | None
    voice: str | None
    request_id: str | None
    headers: dict[str, str]
    _sample_rate: int | None

    def __new__(
        cls,
        data: bytes | bytearray,
        *,
        content_type: str = "application/octet-stream",
        format: str | None = None,
        model: str | None = None,
        voice: str | None = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
        sample_rate: int | None = None,
    ) -> AudioResponse:
        self = super().__new__(cls, data)
        self.content_type = content_type
        self.format = format or FORMAT_BY_CONTENT_TYPE.get(content_type.split(";")[0].strip())
        self.model = model
        self.voice = voice
        self.request_id = request_id
        self.headers = dict(headers or {})
        self._sample_rate = sample_rate
        return self

    @property
    def content(self) -> bytes:
        """The audio as plain ``bytes``."""
        return bytes(self)

    @property
    def sample_rate(self) -> int | None:
        """Samples per second where the format or the model tells it."""
        if self._sample_rate:
            return self._sample_rate
        from .audioinfo import probe

        return probe(self.content, self.format).sample_rate

    @property
    def duration(self) -> float | None:
        """Seconds of audio, read from the container headers where the format allows."""
        from .audioinfo import probe

        return probe(self.content, self.format, sample_rate=self._sample_rate).duration

    def save(self, path: Any) -> None:
        """Write the audio to ``path`` atomically (no partial file on failure)."""
        from .files import atomic_write

        atomic_write(path, self.content)

    def __repr__(self) -> str:
        dur = self.duration
        d = f", duration={dur:.2f}s" if dur is not None else ""
        return (
            f"AudioResponse({len(self)} bytes, format={self.format!r}, model={self.model!r}, "
            f"voice={self.voice!r}{d})"
        )

    def __reduce__(self) -> Any:
        return (
            _rebuild_audio,
            (
                bytes(self),
                self.content_type,
                self.format,
                self.model,
                self.voice,
                self.request_id,
                self.headers,
                self._sample_rate,
            ),
        )


def _rebuild_audio(
    data: bytes,
    content_type: str,
    fmt: str | None,
    model: str | None,
    voice: str | None,
    request_id: str | None,
    headers: dict[str, str],
    sample_rate: int | None,
) -> AudioResponse:
    return AudioResponse(
        data,
        content_type=content_type,
        format=fmt,
        model=model,
        voice=voice,
        request_id=request_id,
        headers=headers,
        sample_rate=sample_rate,
    )


class VoiceCloning(_Model):
    """A model's voice-cloning capability (``model_spec.voice_cloning``)."""

    mode: str | None = None
    accepted_formats: list[str] = Field(default_factory=list)
    min_sample_seconds: float | None = None
    retention_days: float | None = None


class ModelSpec(_Model):
    """The part of a model entry that describes what it can do."""

    name: str | None = None
    privacy: str | None = None
    pricing: dict[str, Any] = Field(default_factory=dict)
    traits: list[str] = Field(default_factory=list)
    voices: list[str] = Field(default_factory=list)
    supported_formats: list[str] | None = None
    default_format: str | None = None
    voice_cloning: VoiceCloning | None = None
    supports_custom_voice_id: bool = False
    offline: bool = False


class ModelInfo(_Model):
    """One entry of ``GET /models``."""

    id: str
    type: str
    object: str = "model"
    owned_by: str | None = None
    created: int | None = None
    model_spec: ModelSpec = Field(default_factory=ModelSpec)

    @property
    def name(self) -> str:
        return self.model_spec.name or self.id

    @property
    def voices(self) -> list[str]:
        return self.model_spec.voices

    def usd_cost(self, *, characters: int = 0, audio_seconds: float = 0.0) -> float | None:
        """Estimated US dollars for a request, from catalog pricing (None when not priced)."""
        pricing = self.model_spec.pricing
        if "input" in pricing and characters:
            return float(pricing["input"].get("usd", 0.0)) * characters / 1_000_000
        if "per_audio_second" in pricing and audio_seconds:
            return float(pricing["per_audio_second"].get("usd", 0.0)) * audio_seconds
        return None


class ModelList(_Model):
    """The answer of ``GET /models``."""

    object: str = "list"
    type: str | None = None
    data: list[ModelInfo] = Field(default_factory=list)

    def __iter__(self) -> Any:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def get(self, model_id: str) -> ModelInfo | None:
        return next((m for m in self.data if m.id == model_id), None)


Gender = Literal["male", "female", "unknown"]


class VoiceDetails(_Model):
    """A voice with what can be told about it from its id and the catalog."""

    id: str
    model_id: str
    gender: Gender = "unknown"
    region_code: str | None = None
    language: str | None = None
    accent: str | None = None

    @property
    def label(self) -> str:
        """A human label such as ``"af_heart: American English, female"``."""
        bits = [b for b in (self.accent, self.language) if b]
        where = " ".join(bits) if bits else None
        parts = [p for p in (where, self.gender if self.gender != "unknown" else None) if p]
        return f"{self.id}: {', '.join(parts)}" if parts else self.id


class VoiceList(_Model):
    """A list of voices (iterable, sized, indexable)."""

    object: str = "list"
    data: list[VoiceDetails] = Field(default_factory=list)

    def __iter__(self) -> Any:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> VoiceDetails:
        return self.data[index]

    @property
    def ids(self) -> list[str]:
        return [v.id for v in self.data]


class TranscriptionWord(_Model):
    word: str
    start: float
    end: float


class TranscriptionSegment(_Model):
    text: str
    start: float
    end: float


class TranscriptionChar(_Model):
    char: str
    start: float
    end: float


class TranscriptionTimestamps(_Model):
    word: list[TranscriptionWord] = Field(default_factory=list)
    segment: list[TranscriptionSegment] = Field(default_factory=list)
    char: list[TranscriptionChar] = Field(default_factory=list)


class TranscriptionGap(_Model):
    """A time range of the audio missing from a transcript, and why (long audio whose piece
    kept failing, or audio past the point where a damaged file stopped decoding)."""

    start: float
    end: float
    reason: str


class AudioTranscriptionResponse(_Model):
    """A transcript: the text, the audio's duration and, when asked for, word/segment timestamps."""

    text: str
    duration: float | None = None
    timestamps: TranscriptionTimestamps | None = None

    @property
    def words(self) -> list[TranscriptionWord]:
        return self.timestamps.word if self.timestamps else []

    @property
    def segments(self) -> list[TranscriptionSegment]:
        return self.timestamps.segment if self.timestamps else []


class ClonedVoice(_Model):
    """A cloned-voice handle (``vv_...``) and the model it is paired with."""

    id: str
    model: str
