"""Settings modules: ``local`` (embedded default), ``production`` and ``test``, all on ``base``."""
