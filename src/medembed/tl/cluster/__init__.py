"""Clustering methods; each module wraps one method in the sklearn contract."""
