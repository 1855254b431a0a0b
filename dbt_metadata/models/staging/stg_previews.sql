{% set src = source('media', 'preview') %}
{{ staged('preview', src if output_exists('preview.json') else none) }}
