"""The search API and the editors' page: a FastAPI app served by uvicorn
(``media-platform serve``).

Like the command-line tool, the API is an entry point: it reads the metadata database (DuckDB,
read-only), the vector index and the stored outputs, and launches Dagster runs through the code
location. Modules: ``app`` (the app, health, metrics, auth), ``context`` (what a request reads),
``search_routes`` (shots, episodes, titles), ``file_routes`` (keyframes, media, previews),
``label_routes`` (labels, training, suggestions), ``page_routes`` (the editors' page).
"""
