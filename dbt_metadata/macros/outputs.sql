{#- Where the outputs are, and whether any exist (an empty home must build: read_parquet of a
    glob matching no file fails, read_blob of it is empty). On PostgreSQL the outputs are the
    raw tables media_raw.<source> that media_platform.metadata.postgres_load keeps in sync:
    they always exist, and carry `partition_key`. -#}

{% macro episode_glob(file_name) -%}
  {{ var('home') }}/episodes/*/{{ file_name }}
{%- endmacro %}

{% macro partition_of(column='filename') -%}
  {{ return(adapter.dispatch('partition_of')(column)) }}
{%- endmacro %}

{% macro default__partition_of(column) -%}
  {{ return("regexp_extract(" ~ column ~ ", '/episodes/([^/]+)/[^/]+$', 1)") }}
{%- endmacro %}

{% macro postgres__partition_of(column) -%}
  {{ return("partition_key") }}
{%- endmacro %}

{% macro files_exist(pattern) %}
  {% if not execute %}{{ return(false) }}{% endif %}
  {% set query %}select count(*) from read_blob('{{ pattern }}'){% endset %}
  {{ return(run_query(query).columns[0].values()[0] > 0) }}
{% endmacro %}

{% macro output_exists(file_name) %}
  {{ return(adapter.dispatch('output_exists')(file_name)) }}
{% endmacro %}

{% macro default__output_exists(file_name) %}
  {{ return(files_exist(episode_glob(file_name))) }}
{% endmacro %}

{% macro postgres__output_exists(file_name) %}
  {{ return(true) }}
{% endmacro %}

{% macro catalogue_exists() %}
  {{ return(adapter.dispatch('catalogue_exists')()) }}
{% endmacro %}

{% macro default__catalogue_exists() %}
  {{ return(files_exist(var('home') ~ '/exports/episodes.parquet')) }}
{% endmacro %}

{% macro postgres__catalogue_exists() %}
  {{ return(true) }}
{% endmacro %}

{#- The files the incremental models read: their per-partition fingerprint decides what is
    rebuilt. -#}
{% macro fingerprinted_outputs() %}
  {{ return(['shots.parquet', 'keyframes.parquet', 'shot_tags.parquet', 'transcript.parquet',
             'audio_events.parquet', 'chapters.parquet', 'preview.json', 'episode_markers.parquet']) }}
{% endmacro %}
