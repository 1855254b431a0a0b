"""The shot vector index: the interface (:mod:`~media_platform.search.index`) and one module a
backend (:mod:`~media_platform.search.edge`, embedded; :mod:`~media_platform.search.qdrant_server`,
a Qdrant server)."""
