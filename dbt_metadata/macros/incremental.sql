{#- Partition-aware incremental models: a row carries the fingerprint of its partition's files
    and licence decisions when it was built (`source_fingerprint`). An incremental run selects
    only partitions whose current fingerprint differs (new, changed, licence changed); the
    post-hook deletes rows whose partition no longer matches a current, analysable fingerprint
    (purged, emptied or no longer licensed). -#}

{% macro changed_partitions() %}
  {%- if is_incremental() -%}
  partition_key in (
    select s.partition_key
    from {{ ref('stg_partition_state') }} as s
    where not exists (
      select 1 from {{ this }} as t
      where t.partition_key = s.partition_key and t.source_fingerprint = s.fingerprint
    )
  )
  {%- else -%}
  true
  {%- endif -%}
{% endmacro %}

{% macro delete_stale_partitions() %}
  delete from {{ this }} as t
  where not exists (
    select 1 from {{ ref('stg_partition_state') }} as s
    where s.partition_key = t.partition_key
      and s.fingerprint = t.source_fingerprint
      and s.allows_analysis
  )
{% endmacro %}
