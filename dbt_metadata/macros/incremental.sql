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

{#- What an incremental fact reads of `output` (shots, keyframes, ...): on an incremental run,
    only the files of the partitions it must rebuild, listed from stg_partition_state and read
    with read_parquet([...]) (so the cost follows the change, not the catalogue); otherwise the
    staging view. `anchor` is the output whose presence makes a partition worth reading (a
    partition without it yields no rows of this fact). The models name their staging refs in a
    `depends_on` comment so that dbt orders them. -#}
{% macro changed_rows(output, anchor=none) %}
  {{- return(adapter.dispatch('changed_rows')(output, anchor)) -}}
{% endmacro %}

{#- PostgreSQL: the staging view over the raw table (indexed by partition_key), restricted on an
    incremental run to the changed partitions, listed as literals: a restriction on the views'
    window partition column is pushed down to the index, a join with the state would not be. -#}
{% macro postgres__changed_rows(output, anchor) %}
  {%- if not is_incremental() -%}{{ return(ref(staging_model(output))) }}{%- endif -%}
  {%- set keys = changed_partition_keys() -%}
  {%- set quoted = [] -%}
  {%- for k in keys %}{% do quoted.append("'" ~ k | replace("'", "''") ~ "'") %}{% endfor -%}
  {%- set condition = ("partition_key in (" ~ quoted | join(", ") ~ ")") if keys else "false" -%}
  {{- return("(select * from " ~ ref(staging_model(output)) ~ " where " ~ condition ~ ")") -}}
{% endmacro %}

{% macro changed_partition_keys() %}
  {% if not execute %}{{ return([]) }}{% endif %}
  {% set query %}
    select s.partition_key from {{ ref('stg_partition_state') }} as s
    where s.allows_analysis
      and not exists (
        select 1 from {{ this }} as t
        where t.partition_key = s.partition_key and t.source_fingerprint = s.fingerprint
      )
    order by 1
  {% endset %}
  {{ return(run_query(query).columns[0].values() | list) }}
{% endmacro %}

{#- The file an output is stored in, the staging model over it, and how DuckDB reads a list of
    them. -#}
{% macro output_file(output) %}
  {{- return('preview.json' if output == 'preview' else output ~ '.parquet') -}}
{% endmacro %}

{% macro staging_model(output) %}
  {{- return('stg_previews' if output == 'preview' else 'stg_' ~ output) -}}
{% endmacro %}

{% macro file_reader(output, files) %}
  {%- set quoted = [] -%}
  {%- for f in files %}{% do quoted.append("'" ~ f ~ "'") %}{% endfor -%}
  {%- if output_file(output).endswith('.json') -%}
    {{- return(json_reader(output, "[" ~ quoted | join(", ") ~ "]")) -}}
  {%- endif -%}
  {{- return("read_parquet([" ~ quoted | join(", ") ~ "], filename=true, union_by_name=true)") -}}
{% endmacro %}

{#- read_json of `files` (a quoted glob or list) with the spec's raw columns given, so that
    creating a view reads no file (no schema detection) and a missing key reads as null. -#}
{% macro json_reader(output, files) %}
  {%- set columns = [] -%}
  {%- for c in output_spec(output) if not c.get('expr') -%}
    {%- do columns.append("'" ~ (c.get('from') or c.name) ~ "': '" ~ sql_type(c.type) ~ "'") -%}
  {%- endfor -%}
  {{- return("read_json(" ~ files ~ ", filename=true, format='auto', columns={" ~ columns | join(", ") ~ "})") -}}
{% endmacro %}

{% macro default__changed_rows(output, anchor) %}
  {%- if is_incremental() -%}
    {%- set files = changed_files(output_file(output), output_file(anchor or output)) -%}
    {%- if files | length > 0 -%}
      {%- set rows = "(" ~ staged(output, file_reader(output, files)) ~ ")" -%}
    {%- else -%}
      {%- set rows = "(" ~ staged(output, none) ~ ")" -%}
    {%- endif -%}
  {%- else -%}
    {%- set rows = ref(staging_model(output)) -%}
  {%- endif -%}
  {{- return(rows) -}}
{% endmacro %}

{#- The files named `file_name` of the analysable partitions whose rows in this model are missing
    or stale (fingerprint differs), among those holding `anchor_name`. -#}
{% macro changed_files(file_name, anchor_name) %}
  {% if not execute %}{{ return([]) }}{% endif %}
  {% set query %}
    with changed as (
        select s.partition_key, s.files
        from {{ ref('stg_partition_state') }} as s
        where s.allows_analysis
          and list_contains(s.files, s.partition_key || '/' || '{{ anchor_name }}')
          and not exists (
            select 1 from {{ this }} as t
            where t.partition_key = s.partition_key and t.source_fingerprint = s.fingerprint
          )
    )
    select '{{ var("home") }}/episodes/' || f
    from (select unnest(files) as f from changed)
    where ends_with(f, '/{{ file_name }}')
    order by 1
  {% endset %}
  {{ return(run_query(query).columns[0].values() | list) }}
{% endmacro %}
