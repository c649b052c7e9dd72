"""Settings for every test, the notebook runs under nbval included (their kernels inherit them)."""

import os

# The course at its smallest size: every notebook in seconds on a CPU.
os.environ.setdefault("LLMCOURSE_PROFILE", "ci")
