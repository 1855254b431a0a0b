{% set src = source('media', 'keyframes') %}
{{ staged_keyframes(src if output_exists('keyframes.parquet') else none) }}
