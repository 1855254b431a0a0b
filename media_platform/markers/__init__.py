"""Intro, recap, credits and preview-of-next markers across the episodes of a series.

``fingerprints`` (Chromaprint points and frame hashes as time series), ``alignment`` (the
stretches two episodes share), ``fusion`` (sound and picture together, snapping to cuts),
``decisions`` (the markers of every episode of a series), ``series`` (grouping and order from
the catalogue), ``store`` (the stored table and its checks), ``baseline`` (the intro-skipper
method, for comparison). Pure domain code: no Dagster.
"""
