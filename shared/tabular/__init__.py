"""Tabular pieces: column typing and features (``features``), models with fit/predict (``models``)."""
