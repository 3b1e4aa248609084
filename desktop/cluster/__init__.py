"""Classifying on a Ray cluster: the same model, decode and result rows as the local engine.

Nothing here is imported unless ``--engine ray`` is asked for, and Ray itself only inside
``connect.import_ray``, so the app and the local engine never load it.
"""
