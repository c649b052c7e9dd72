"""What a learner's install needs to check each exercise: its declaration, its public cases and their recordings.

One module a chapter (``chNN.py``): the exercises it grades (:func:`llmcourse.grading.exercise`), the cases that
draw their inputs and judge the answers, and nothing that computes an answer. The expected answers come from the
teacher's references (``solutions/references/chNN.py``), live on the teacher's side and replayed from
``recorded/chNN/*.pt`` in a learner's ``check()`` (see :mod:`llmcourse.grading.recorded`).
"""
