{#- The catalogue export; the licence decisions were made by the platform's one licence policy
    when it was exported (media_platform.catalogue.export): never re-derived here. -#}
{% set src = source('media', 'episode_catalogue') %}
{% if files_exist(var('home') ~ '/exports/episodes.parquet') %}
select
    cast(partition_key as varchar) as partition_key,
    cast(title as varchar) as title,
    cast(episode_id as varchar) as episode_id,
    cast(kind as varchar) as kind,
    cast(source as varchar) as source,
    cast(master_uri as varchar) as master_uri,
    nullif(cast(content_hash as varchar), '') as content_hash,
    try_cast(json_extract(metadata_json, '$.duration_s') as double) as duration_s,
    cast(licence_json as varchar) as licence_json,
    json_extract_string(licence_json, '$.identifier') as licence_identifier,
    coalesce(cast(allows_analysis as boolean), false) as allows_analysis,
    coalesce(cast(allows_search_indexing as boolean), false) as allows_search_indexing,
    coalesce(cast(licence_status as varchar), 'unknown') as licence_status,
    try_cast(ingested_at as timestamptz) as ingested_at,
    try_cast(updated_at as timestamptz) as updated_at
from {{ src }}
{% else %}
select cast(null as varchar) as partition_key, cast(null as varchar) as title,
       cast(null as varchar) as episode_id, cast(null as varchar) as kind,
       cast(null as varchar) as source, cast(null as varchar) as master_uri,
       cast(null as varchar) as content_hash, cast(null as double) as duration_s,
       cast(null as varchar) as licence_json, cast(null as varchar) as licence_identifier,
       cast(null as boolean) as allows_analysis, cast(null as boolean) as allows_search_indexing,
       cast(null as varchar) as licence_status, cast(null as timestamptz) as ingested_at,
       cast(null as timestamptz) as updated_at
where false
{% endif %}
