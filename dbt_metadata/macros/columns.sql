{#- The staging select of an output, generated from its one column spec (var `output_columns`
    in dbt_project.yml; the PostgreSQL loader builds its raw tables from the same spec). Over a
    reader (a table expression holding the raw columns, and `filename` on DuckDB or
    `partition_key` on PostgreSQL), or none: the same columns, no rows. -#}

{% macro output_spec(output) %}
  {%- set spec = var('output_columns') -%}
  {%- if output not in spec -%}
    {{ exceptions.raise_compiler_error("no column spec for output " ~ output) }}
  {%- endif -%}
  {{ return(spec[output]) }}
{% endmacro %}

{% macro staged(output, reader, partition=none) %}
{%- set part = partition or partition_of() -%}
{%- set columns = output_spec(output) -%}
{%- if reader %}
select
    {{ part }} as partition_key
{%- for c in columns %},
    {{ column_value(c, part) }} as {{ c.name }}
{%- endfor %}
from {{ with_optional_columns(output, reader) }}
{%- else %}
select cast(null as {{ sql_type('varchar') }}) as partition_key
{%- for c in columns %}, cast(null as {{ sql_type(c.type) }}) as {{ c.name }}{% endfor %}
where false
{%- endif %}
{% endmacro %}

{#- The reader, with every `optional` column of the spec that its files may all lack (read as
    null). DuckDB's union by name adds them; PostgreSQL's raw tables always hold every column. -#}
{% macro with_optional_columns(output, reader) %}
  {{- return(adapter.dispatch('with_optional_columns')(output, reader)) -}}
{% endmacro %}

{% macro default__with_optional_columns(output, reader) %}
  {%- set nulls = [] -%}
  {%- for c in output_spec(output) if c.get('optional') -%}
    {%- do nulls.append('cast(null as ' ~ sql_type(c.type) ~ ') as "' ~ (c.get('from') or c.name) ~ '"') -%}
  {%- endfor -%}
  {%- if not nulls -%}{{- return(reader) -}}{%- endif -%}
  {{- return('(select * from ' ~ reader ~ ' union all by name select ' ~ nulls | join(', ') ~ ' where false) as with_optional') -}}
{% endmacro %}

{% macro postgres__with_optional_columns(output, reader) %}
  {{- return(reader) -}}
{% endmacro %}

{% macro column_value(c, partition) %}
  {%- set raw = '"' ~ (c.get('from') or c.name) ~ '"' -%}
  {%- if c.get('expr') -%}
    {%- set value = 'cast(' ~ c.expr.replace('{partition}', partition) ~ ' as ' ~ sql_type(c.type) ~ ')' -%}
  {%- elif c.get('json') -%}
    {%- set value = json_value('"' ~ c.json[0] ~ '"', c.json[1], c.type) -%}
  {%- elif c.get('parse') -%}
    {%- set value = parse_value(raw, c.type) -%}
  {%- else -%}
    {%- set value = 'cast(' ~ raw ~ ' as ' ~ sql_type(c.type) ~ ')' -%}
  {%- endif -%}
  {%- if c.get('empty_null') -%}{%- set value = "nullif(" ~ value ~ ", '')" -%}{%- endif -%}
  {%- if c.get('default') is not none -%}{%- set value = 'coalesce(' ~ value ~ ', ' ~ c.default ~ ')' -%}{%- endif -%}
  {{ return(value) }}
{% endmacro %}

{#- The spec's types in each database. -#}
{% macro sql_type(type) %}{{ return(adapter.dispatch('sql_type')(type)) }}{% endmacro %}

{% macro default__sql_type(type) %}
  {%- if type == 'words' -%}
    {{ return('struct(word varchar, "start" double, "end" double, probability double)[]') }}
  {%- endif -%}
  {{ return(type) }}
{% endmacro %}

{% macro postgres__sql_type(type) %}
  {{ return({'words': 'jsonb', 'double': 'double precision', 'varchar[]': 'text[]'}.get(type, type)) }}
{% endmacro %}

{#- `key` of the JSON object in the text column `column`, as `type` (null when absent). -#}
{% macro json_value(column, key, type) %}{{ return(adapter.dispatch('json_value')(column, key, type)) }}{% endmacro %}

{% macro default__json_value(column, key, type) %}
  {{ return("try_cast(json_extract_string(" ~ column ~ ", '$." ~ key ~ "') as " ~ sql_type(type) ~ ")") }}
{% endmacro %}

{% macro postgres__json_value(column, key, type) %}
  {{ return("cast(cast(nullif(" ~ column ~ ", '') as jsonb) ->> '" ~ key ~ "' as " ~ sql_type(type) ~ ")") }}
{% endmacro %}

{#- A text column parsed as `type` (empty: null). -#}
{% macro parse_value(column, type) %}{{ return(adapter.dispatch('parse_value')(column, type)) }}{% endmacro %}

{% macro default__parse_value(column, type) %}
  {{ return("try_cast(" ~ column ~ " as " ~ sql_type(type) ~ ")") }}
{% endmacro %}

{% macro postgres__parse_value(column, type) %}
  {{ return("cast(nullif(" ~ column ~ ", '') as " ~ sql_type(type) ~ ")") }}
{% endmacro %}
