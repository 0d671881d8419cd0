"""2-D (or 3-D) maps; each module wraps one method in the sklearn contract."""
