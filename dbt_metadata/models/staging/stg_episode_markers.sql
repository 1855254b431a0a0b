{% set src = source('media', 'episode_markers') %}
{{ staged('episode_markers', src if output_exists('episode_markers.parquet') else none) }}
