"""Settings for every test, the notebook runs under nbval included (their kernels inherit them)."""

import os

# The course at its smallest size: every notebook in seconds on a CPU.
os.environ.setdefault("LLMCOURSE_PROFILE", "ci")

# Under pytest-xdist each worker (and each notebook kernel it starts) gets one CPU thread: two workers with torch's
# default of one thread per core would oversubscribe the cores, which makes small torch loops many times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
