{% set src = source('media', 'shots') %}
{{ staged('shots', src if output_exists('shots.parquet') else none) }}
