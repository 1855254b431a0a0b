{% set src = source('media', 'keyframes') %}
{{ staged('keyframes', src if output_exists('keyframes.parquet') else none) }}
