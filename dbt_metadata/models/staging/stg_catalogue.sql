{#- The catalogue export; the licence decisions were made by the platform's one licence policy
    when it was exported (media_platform.catalogue.export): never re-derived here. -#}
{% set src = source('media', 'episode_catalogue') %}
{{ staged('episode_catalogue', src if catalogue_exists() else none, partition='cast(partition_key as ' ~ sql_type('varchar') ~ ')') }}
