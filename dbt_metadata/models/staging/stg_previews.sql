{#- DuckDB reads the preview.json files with the spec's columns given (json_reader): creating
    the view reads no file. -#}
{% set src = source('media', 'preview') %}
{% if target.type == 'postgres' %}
{{ staged('preview', src) }}
{% else %}
{{ staged('preview', json_reader('preview', "'" ~ episode_glob('preview.json') ~ "'") if output_exists('preview.json') else none) }}
{% endif %}
