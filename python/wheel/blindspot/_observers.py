"""Callbacks given every report `check` and `run` return (the pytest plugin's). A module of its
own, importing nothing, so that the plugin can register before a test first imports torch."""
observers = []
