"""Outlier detectors: a score per sample (higher = more outlying) and a flag."""
