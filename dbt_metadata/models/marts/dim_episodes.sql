{#- Every catalogued episode with its licence and what it allows today (decided at export by
    the platform's licence policy). Only catalogue facts: no analysis output lives here. -#}
select
    c.partition_key,
    md5(c.title) as title_id,
    c.title,
    c.episode_id,
    c.kind,
    c.source,
    c.master_uri,
    c.content_hash,
    c.duration_s,
    c.licence_json,
    c.licence_identifier,
    c.licence_status,
    c.allows_analysis,
    c.allows_search_indexing,
    c.allows_search_indexing as searchable,
    c.ingested_at,
    c.updated_at
from {{ ref('stg_catalogue') }} as c
