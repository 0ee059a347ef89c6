"""Measuring shot detection: scoring predicted transitions against annotated ones.

`scoring` is the protocol TransNetV2 and AutoShot publish their F1 with; `truth` is the ground-truth
file written beside an annotated video and the per-transition-type breakdown.
"""
