"""llmcourse: build every part of a large language model in PyTorch, one chapter at a time.

The package mirrors the chapters: each module holds what a chapter built, so a later chapter
imports the finished piece instead of copying it. See README.md for the chapter map.
"""

__version__ = "0.1.0"
