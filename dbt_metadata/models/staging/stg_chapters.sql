{% set src = source('media', 'chapters') %}
{{ staged_chapters(src if output_exists('chapters.parquet') else none) }}
