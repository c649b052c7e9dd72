"""Settings for every test, the notebook runs under nbval included (their kernels inherit them)."""

import os

# The course at its smallest size: every notebook in seconds on a CPU.
os.environ.setdefault("LLMCOURSE_PROFILE", "ci")
# ... on the CPU, where the ci profile's reference runs were made: on a GPU machine the chapters' results would have no
# band to land in, and the tests would judge nothing. (The GPU paths are tested where a test asks for CUDA itself.)
os.environ.setdefault("LLMCOURSE_DEVICE", "cpu")

# Each chapter's closing expect() cell raises when a result leaves the band of the reference runs for its profile and
# device (llmcourse.expected), so a change that silently degrades a chapter fails the tests.
# Forced, not defaulted: an exported LLMCOURSE_EXPECT_STRICT=0, or a recording file left from execute --record, must
# not switch the check off.
os.environ["LLMCOURSE_EXPECT_STRICT"] = "1"
os.environ.pop("LLMCOURSE_EXPECT_RECORD", None)

# Under pytest-xdist each worker (and each notebook kernel it starts) gets one CPU thread: two workers with torch's
# default of one thread per core would oversubscribe the cores, which makes small torch loops many times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
