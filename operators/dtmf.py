"""DTMF (touch-tone) decoding: the digits a phone keypad sends, found in 20 ms blocks of audio.

Each key sends two sine tones at once, one from a low group (697, 770, 852,
941 Hz) and one from a high group (1209, 1336, 1477, 1633 Hz), ITU-T Q.23. The
decoder measures the energy at those eight frequencies in each block (the
Goertzel algorithm's output, computed for a whole batch of blocks at once as
a matrix product with the eight complex exponentials) and accepts a block as
a key when, as in Q.24 receivers:

* the strongest tone of each group stands ``dominance_db`` over the rest of its group;
* the two tones carry at least ``tone_share`` of the block's energy (speech and
  music spread theirs);
* the high tone is at most 4 dB above (normal twist) and the low tone at most
  8 dB above (reverse twist) the other;
* the block is louder than ``min_dbfs``.

A key counts once it holds for ``min_blocks`` blocks in a row (40 ms, the
Q.24 minimum tone duration), and again only after a gap.

Examples
--------
>>> import numpy as np
>>> rate = 8000
>>> t = np.arange(int(0.1 * rate)) / rate
>>> key = lambda low, high: 0.3 * np.sin(2 * np.pi * low * t) + 0.3 * np.sin(2 * np.pi * high * t)
>>> gap = np.zeros(int(0.06 * rate))
>>> audio = np.concatenate([key(697, 1209), gap, key(852, 1477), gap, key(941, 1477)])
>>> decoder = DtmfDecoder(rate)
>>> [(round(start, 2), digit) for start, digit in decoder.update(audio)]
[(0.0, '1'), (0.16, '9'), (0.32, '#')]
"""

from __future__ import annotations

import numpy as np

LOW_HZ = (697.0, 770.0, 852.0, 941.0)
HIGH_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
"""``KEYS[low][high]``: the keypad, rows by low tone, columns by high tone."""


class DtmfDecoder:
    """Decodes DTMF digits from a mono audio stream, fed in chunks of any size.

    Parameters
    ----------
    sample_rate
        Samples per second of the audio given to :meth:`update`.
    block_ms
        Analysis block; 20 ms resolves the 73 Hz spacing of the low group at 50 Hz bins.
    min_blocks
        Blocks in a row a key must hold to count.
    dominance_db
        How far the strongest tone of each group must stand over the others.
    tone_share
        Share of the block's energy the two tones must carry.
    min_dbfs
        Quieter blocks are never keys.
    """

    def __init__(self, sample_rate: int, *, block_ms: float = 20.0, min_blocks: int = 2,
                 dominance_db: float = 10.0, tone_share: float = 0.6,
                 min_dbfs: float = -45.0) -> None:
        if sample_rate < 4000:
            raise ValueError("sample_rate must be at least 4000 Hz to carry the 1633 Hz tone")
        if min_blocks < 1:
            raise ValueError("min_blocks must be >= 1")
        self.sample_rate = sample_rate
        self.block_ms = block_ms
        self.min_blocks = min_blocks
        self.dominance_db = dominance_db
        self.tone_share = tone_share
        self.min_dbfs = min_dbfs
        self.block = round(sample_rate * block_ms / 1000)
        n = np.arange(self.block)
        freqs = np.array(LOW_HZ + HIGH_HZ)
        self._basis = np.exp(-2j * np.pi * np.outer(n, freqs) / sample_rate)
        self._pending = np.zeros(0, dtype=np.float64)
        self._blocks_done = 0
        self._candidate = ""
        self._streak = 0
        self._held = ""

    def update(self, samples: np.ndarray) -> list[tuple[float, str]]:
        """Add samples (floats in [-1, 1]); return ``(start seconds, digit)`` of new key presses.

        The start is counted from the first sample ever given.
        """
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64)])
        whole = data.shape[0] // self.block
        self._pending = data[whole * self.block:]
        if whole == 0:
            return []
        blocks = data[: whole * self.block].reshape(whole, self.block)
        found: list[tuple[float, str]] = []
        for i, key in enumerate(self._keys(blocks)):
            index = self._blocks_done + i
            if key and key == self._candidate:
                self._streak += 1
            else:
                self._candidate, self._streak = key, 1 if key else 0
            if key and self._streak >= self.min_blocks and key != self._held:
                self._held = key
                start = (index - self._streak + 1) * self.block / self.sample_rate
                found.append((start, key))
            elif not key:
                self._held = ""
        self._blocks_done += whole
        return found

    def _keys(self, blocks: np.ndarray) -> list[str]:
        """Return the key each block shows, or '' (vectorised over blocks)."""
        spectrum = np.abs(blocks @ self._basis) ** 2 * (2.0 / self.block**2)
        total = np.einsum("ij,ij->i", blocks, blocks) / self.block  # mean power
        low, high = spectrum[:, :4], spectrum[:, 4:]
        li, hi = low.argmax(axis=1), high.argmax(axis=1)
        rows = np.arange(len(blocks))
        lp, hp = low[rows, li], high[rows, hi]
        ratio = 10 ** (self.dominance_db / 10)
        low_rest = np.sort(low, axis=1)[:, -2]
        high_rest = np.sort(high, axis=1)[:, -2]
        # A sine of amplitude a has mean power a²/2, which the scaling above reports.
        ok = ((lp >= ratio * low_rest) & (hp >= ratio * high_rest)
              & (lp + hp >= self.tone_share * np.maximum(total, 1e-20))
              & (hp <= lp * 10 ** 0.4) & (lp <= hp * 10 ** 0.8)
              & (total >= 10 ** (self.min_dbfs / 10)))
        return [KEYS[li[i]][hi[i]] if ok[i] else "" for i in range(len(blocks))]
