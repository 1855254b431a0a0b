{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='partition_key',
    post_hook="{{ delete_stale_partitions() }}",
) }}
{#- One row per transcript segment, for episodes whose licence allows analysis. -#}
-- depends_on: {{ ref('stg_transcript') }}
with state as (
    select * from {{ ref('stg_partition_state') }}
    where allows_analysis and {{ changed_partitions() }}
)
select
    t.partition_key || '/' || t.segment as segment_id,
    t.partition_key,
    t.segment,
    t.start_s,
    t.end_s,
    t.end_s - t.start_s as duration_s,
    t.text,
    {{ object_list_length('t.words') }} as word_count,
    t.words,
    t.language,
    t.transcriber,
    state.allows_search_indexing as searchable,
    state.fingerprint as source_fingerprint,
    current_timestamp as loaded_at
from {{ changed_rows('transcript') }} as t
join state using (partition_key)
