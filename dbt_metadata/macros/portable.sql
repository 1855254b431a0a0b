{#- SQL that differs between DuckDB and PostgreSQL, one macro per construct (adapter.dispatch:
    default__ is DuckDB's, postgres__ PostgreSQL's). Lists of structs (a shot's tags, a segment's
    words) are DuckDB struct lists and PostgreSQL jsonb arrays; lists of text are varchar[] and
    text[]. -#}

{#- An ordered list of `value` per group. -#}
{% macro list_agg(value, order_by) %}{{ return(adapter.dispatch('list_agg')(value, order_by)) }}{% endmacro %}
{% macro default__list_agg(value, order_by) %}{{ return('list(' ~ value ~ ' order by ' ~ order_by ~ ')') }}{% endmacro %}
{% macro postgres__list_agg(value, order_by) %}{{ return('array_agg(' ~ value ~ ' order by ' ~ order_by ~ ')') }}{% endmacro %}

{#- The distinct values per group, sorted. -#}
{% macro distinct_list_agg(value) %}{{ return(adapter.dispatch('distinct_list_agg')(value)) }}{% endmacro %}
{% macro default__distinct_list_agg(value) %}{{ return('list(distinct ' ~ value ~ ' order by ' ~ value ~ ')') }}{% endmacro %}
{% macro postgres__distinct_list_agg(value) %}{{ return('array_agg(distinct ' ~ value ~ ' order by ' ~ value ~ ')') }}{% endmacro %}

{#- An ordered list of objects per group; `fields` maps each key to its expression. -#}
{% macro object_list_agg(fields, order_by) %}{{ return(adapter.dispatch('object_list_agg')(fields, order_by)) }}{% endmacro %}
{% macro default__object_list_agg(fields, order_by) %}
  {%- set parts = [] -%}
  {%- for key, value in fields.items() %}{% do parts.append("'" ~ key ~ "': " ~ value) %}{% endfor -%}
  {{ return('list({' ~ parts | join(', ') ~ '} order by ' ~ order_by ~ ')') }}
{% endmacro %}
{% macro postgres__object_list_agg(fields, order_by) %}
  {%- set parts = [] -%}
  {%- for key, value in fields.items() %}{% do parts.append("'" ~ key ~ "', " ~ value) %}{% endfor -%}
  {{ return('jsonb_agg(jsonb_build_object(' ~ parts | join(', ') ~ ') order by ' ~ order_by ~ ')') }}
{% endmacro %}

{#- The empty list of objects / of text (for coalesce). -#}
{% macro empty_object_list() %}{{ return(adapter.dispatch('empty_object_list')()) }}{% endmacro %}
{% macro default__empty_object_list() %}{{ return('[]') }}{% endmacro %}
{% macro postgres__empty_object_list() %}{{ return("'[]'::jsonb") }}{% endmacro %}

{% macro empty_text_list() %}{{ return(adapter.dispatch('empty_text_list')()) }}{% endmacro %}
{% macro default__empty_text_list() %}{{ return('[]::varchar[]') }}{% endmacro %}
{% macro postgres__empty_text_list() %}{{ return('array[]::text[]') }}{% endmacro %}

{#- The number of elements of a list of objects. -#}
{% macro object_list_length(value) %}{{ return(adapter.dispatch('object_list_length')(value)) }}{% endmacro %}
{% macro default__object_list_length(value) %}{{ return('len(' ~ value ~ ')') }}{% endmacro %}
{% macro postgres__object_list_length(value) %}{{ return('jsonb_array_length(' ~ value ~ ')') }}{% endmacro %}

{#- A table function over a list of objects, for `from t, <it> with ordinality as w(item, idx)`. -#}
{% macro object_list_elements(value) %}{{ return(adapter.dispatch('object_list_elements')(value)) }}{% endmacro %}
{% macro default__object_list_elements(value) %}{{ return('unnest(' ~ value ~ ')') }}{% endmacro %}
{% macro postgres__object_list_elements(value) %}{{ return('jsonb_array_elements(' ~ value ~ ')') }}{% endmacro %}

{#- The field `key` of an object (an element of such a list), as `type`. -#}
{% macro object_field(value, key, type) %}{{ return(adapter.dispatch('object_field')(value, key, type)) }}{% endmacro %}
{% macro default__object_field(value, key, type) %}{{ return('cast(' ~ value ~ '."' ~ key ~ '" as ' ~ sql_type(type) ~ ')') }}{% endmacro %}
{% macro postgres__object_field(value, key, type) %}{{ return('cast(' ~ value ~ " ->> '" ~ key ~ "' as " ~ sql_type(type) ~ ')') }}{% endmacro %}

{#- The `value` of the row with the smallest `order_by` in a group. -#}
{% macro first_by(value, order_by) %}{{ return(adapter.dispatch('first_by')(value, order_by)) }}{% endmacro %}
{% macro default__first_by(value, order_by) %}{{ return('min_by(' ~ value ~ ', ' ~ order_by ~ ')') }}{% endmacro %}
{% macro postgres__first_by(value, order_by) %}{{ return('(array_agg(' ~ value ~ ' order by ' ~ order_by ~ '))[1]') }}{% endmacro %}
