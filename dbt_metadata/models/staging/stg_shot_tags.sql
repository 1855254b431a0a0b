{% set src = source('media', 'shot_tags') %}
{{ staged('shot_tags', src if output_exists('shot_tags.parquet') else none) }}
