{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='partition_key',
    post_hook="{{ delete_stale_partitions() }}",
) }}
{#- The chosen preview of each episode whose licence allows analysis (a preview file also
    needs derivatives: the preview asset only exists where allowed). Incremental like the
    other facts: only changed partitions' preview.json files are read. -#}
-- depends_on: {{ ref('stg_previews') }}
with state as (
    select * from {{ ref('stg_partition_state') }}
    where allows_analysis and {{ changed_partitions() }}
)
select
    p.partition_key,
    p.start_s,
    p.end_s,
    p.duration_s,
    p.text,
    p.score,
    p.ranker,
    p.audio_uri,
    p.video_uri,
    p.reason,
    case when p.audio_uri is not null or p.video_uri is not null then 'ready' else 'none' end as status,
    state.allows_search_indexing as searchable,
    state.fingerprint as source_fingerprint,
    current_timestamp as loaded_at
from {{ changed_rows('preview') }} as p
join state using (partition_key)
