{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='partition_key',
    post_hook="{{ delete_stale_partitions() }}",
) }}
{#- Every tag score of every shot (all sources), for episodes whose licence allows analysis. -#}
-- depends_on: {{ ref('stg_shot_tags') }}
with state as (
    select * from {{ ref('stg_partition_state') }}
    where allows_analysis and {{ changed_partitions() }}
)
select
    t.partition_key || '/' || t.shot as shot_id,
    t.partition_key,
    t.shot,
    t.tag,
    t.score,
    t.source,
    t.source_kind,
    t.above_threshold,
    t.weight,
    state.allows_search_indexing as searchable,
    state.fingerprint as source_fingerprint,
    current_timestamp as loaded_at
from {{ changed_rows('shot_tags') }} as t
join state using (partition_key)
