{% set src = source('media', 'chapters') %}
{{ staged('chapters', src if output_exists('chapters.parquet') else none) }}
