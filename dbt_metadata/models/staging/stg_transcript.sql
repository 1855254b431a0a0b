{% set src = source('media', 'transcript') %}
{{ staged('transcript', src if output_exists('transcript.parquet') else none) }}
