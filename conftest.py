"""The test suite runs in several processes on few cores: one torch thread per process (the
library's "every core" default, ``threads=0``, reads ``OMP_NUM_THREADS``), since two processes
with two spinning OpenMP threads each on two cores run many times slower than one each."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
