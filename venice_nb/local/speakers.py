"""Who a voice sounds like: a speaker distance between two recordings, in dB.

A voice's *envelope* is the long-term average of its cepstrally smoothed log spectrum over voiced
frames (pitch harmonics liftered away), sampled on a mel grid. Two envelopes are compared after
removing their overall level and after the best vocal-tract-length warp between them (a frequency
scaling of up to ±20 %): a voice pitch- or formant-shifted stays the same speaker, a different
spectral shape (tilt, resonance pattern, breathiness) makes another one. The figure is the RMS
of the remaining difference over 100-6000 Hz. Calibration (figures in docs/offline-engine.md,
checked by tests/test_local_speakers.py) sets ``DIFFERENT_SPEAKERS_DB``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]

_MEL = np.linspace(2595 * np.log10(1 + 80 / 700), 2595 * np.log10(1 + 8000 / 700), 96)
GRID_HZ = 700.0 * (10 ** (_MEL / 2595) - 1)
"""Where an envelope is sampled: 96 points equally spaced in mel from 80 Hz to 8 kHz."""

_BAND = (100.0, 6000.0)  # compared here (warped up to ±20 %, it stays inside GRID_HZ)
_WARPS = np.exp(np.linspace(np.log(0.8), np.log(1.25), 41))
_LIFTER_S = 0.002  # keep quefrencies below 2 ms: the envelope, not harmonics of 40-500 Hz

DIFFERENT_SPEAKERS_DB = 1.6
"""At or above this distance two voices are different people. Measured on the five packs:
different packs 2.2-6.5 dB apart (10 pairs); one pack resampled x0.89-x1.2 (pitch and
formants), time-stretched x0.85-x1.2, at Kokoro speed 1.25, on another sentence or in British
English 0.2-1.2 dB from itself (40 pairs)."""


def envelope(samples: FloatArray, rate: int) -> npt.NDArray[np.float64]:
    """The long-term spectral envelope of speech (dB on ``GRID_HZ``); NaN-free, level included."""
    x = np.asarray(samples, dtype=np.float64)
    size, hop = round(0.032 * rate), round(0.010 * rate)
    if x.size < size:
        x = np.pad(x, (0, size - x.size))
    count = 1 + (x.size - size) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, size)[::hop][:count]
    nfft = 1 << (size - 1).bit_length()
    spectra = np.abs(np.fft.rfft(frames * np.hanning(size), nfft)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(nfft, 1 / rate)
    energy = 10 * np.log10(spectra.sum(axis=1))
    low = spectra[:, freqs < 1000].sum(axis=1) / spectra.sum(axis=1)
    # Voiced: loud (within 30 dB of the loud frames) and mostly below 1 kHz (not a fricative).
    voiced = (energy > np.percentile(energy, 95) - 30) & (low > 0.5)
    if voiced.sum() < 5:
        voiced = energy >= np.median(energy)
    log = np.log(spectra[voiced])
    cepstra = np.fft.irfft(log, nfft, axis=1)
    keep = max(2, round(_LIFTER_S * rate))
    cepstra[:, keep:-keep] = 0.0
    smooth = np.fft.rfft(cepstra, nfft, axis=1).real * (10 / np.log(10))
    mean = smooth.mean(axis=0)
    return np.interp(GRID_HZ, freqs, mean)


def speaker_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """RMS difference (dB) between two envelopes after removing their level and warping their
    frequency axes towards each other by the best vocal-tract-length factor."""
    ea, eb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    band = GRID_HZ[(GRID_HZ >= _BAND[0]) & (GRID_HZ <= _BAND[1])]
    best = np.inf
    for warp in _WARPS:
        root = np.sqrt(warp)
        da = np.interp(band / root, GRID_HZ, ea)
        db = np.interp(band * root, GRID_HZ, eb)
        diff = (da - da.mean()) - (db - db.mean())
        best = min(best, float(np.sqrt(np.mean(diff**2))))
    return best


__all__ = ["DIFFERENT_SPEAKERS_DB", "GRID_HZ", "envelope", "speaker_distance"]
