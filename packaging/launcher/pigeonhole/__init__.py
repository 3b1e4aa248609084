"""The app module Briefcase runs: a name for the installed app, and nothing else.

Briefcase requires the app's main module to be named after the app (``pigeonhole``); our code is
in ``desktop`` and ``trainer``. This shim lives under packaging/ so the source tree keeps its shape.
"""
