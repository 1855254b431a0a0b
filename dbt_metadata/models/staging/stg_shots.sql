{% set src = source('media', 'shots') %}
{{ staged_shots(src if output_exists('shots.parquet') else none) }}
