{% set src = source('media', 'audio_events') %}
{{ staged('audio_events', src if output_exists('audio_events.parquet') else none) }}
