{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='partition_key',
    post_hook="{{ delete_stale_partitions() }}",
) }}
{#- One row per audio event interval, for episodes whose licence allows analysis. -#}
-- depends_on: {{ ref('stg_audio_events') }}
with state as (
    select * from {{ ref('stg_partition_state') }}
    where allows_analysis and {{ changed_partitions() }}
)
select
    e.partition_key || '/' || e.event as event_id,
    e.partition_key,
    e.event,
    e.label,
    e.start_s,
    e.end_s,
    e.end_s - e.start_s as duration_s,
    e.confidence,
    state.allows_search_indexing as searchable,
    state.fingerprint as source_fingerprint,
    current_timestamp as loaded_at
from {{ changed_rows('audio_events') }} as e
join state using (partition_key)
