#!/usr/bin/env python3
"""Prints the narrowband PESQ score (ITU-T P.862, as MOS-LQO) of a degraded speech recording
against its reference, both 8 kHz mono 16-bit WAV files, using PyPI's `pesq` package.

    python3 tests/data/pesq_score.py reference.wav degraded.wav
"""
import sys
import wave

import numpy as np
from pesq import pesq


def read(path):
    with wave.open(path, "rb") as w:
        if w.getframerate() != 8000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            sys.exit(f"{path}: not 8 kHz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: pesq_score.py REFERENCE.wav DEGRADED.wav")
    reference, degraded = read(sys.argv[1]), read(sys.argv[2])
    print(f"{pesq(8000, reference, degraded, 'nb'):.3f}")


if __name__ == "__main__":
    main()
