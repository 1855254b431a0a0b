{% set src = source('media', 'transcript') %}
{{ staged_transcript(src if output_exists('transcript.parquet') else none) }}
