{#- Where the outputs are, and whether any exist (an empty home must build: read_parquet of a
    glob matching no file fails, read_blob of it is empty). -#}

{% macro episode_glob(file_name) -%}
  {{ var('home') }}/episodes/*/{{ file_name }}
{%- endmacro %}

{% macro partition_of(column='filename') -%}
  regexp_extract({{ column }}, '/episodes/([^/]+)/[^/]+$', 1)
{%- endmacro %}

{% macro files_exist(pattern) %}
  {% if not execute %}{{ return(false) }}{% endif %}
  {% set query %}select count(*) from read_blob('{{ pattern }}'){% endset %}
  {{ return(run_query(query).columns[0].values()[0] > 0) }}
{% endmacro %}

{% macro output_exists(file_name) %}
  {{ return(files_exist(episode_glob(file_name))) }}
{% endmacro %}

{#- The files the incremental models read: their per-partition fingerprint decides what is
    rebuilt. -#}
{% macro fingerprinted_outputs() %}
  {{ return(['shots.parquet', 'keyframes.parquet', 'shot_tags.parquet', 'transcript.parquet',
             'audio_events.parquet', 'chapters.parquet']) }}
{% endmacro %}
