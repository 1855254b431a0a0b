{#- The staging selects of the per-episode Parquet outputs, one macro per output, each over a
    reader (a table expression holding the file's columns and `filename`), or none: the same
    columns, no rows. The staging views read every partition's file (the source); the
    incremental facts read only the changed partitions' files (see changed_rows). -#}

{% macro staged_shots(reader) %}
{%- if reader %}
select
    {{ partition_of() }} as partition_key,
    cast(shot as bigint) as shot,
    cast(start_frame as bigint) as start_frame,
    cast(end_frame as bigint) as end_frame,
    cast(start_s as double) as start_s,
    cast(end_s as double) as end_s,
    cast(confidence as double) as confidence
from {{ reader }}
{%- else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as shot,
       cast(null as bigint) as start_frame, cast(null as bigint) as end_frame,
       cast(null as double) as start_s, cast(null as double) as end_s,
       cast(null as double) as confidence
where false
{%- endif %}
{% endmacro %}

{% macro staged_keyframes(reader) %}
{%- if reader %}
select
    {{ partition_of() }} as partition_key,
    cast(shot as bigint) as shot,
    cast(frame as bigint) as frame,
    cast(time_s as double) as time_s,
    cast(sharpness as double) as sharpness,
    cast(uri as varchar) as uri
from {{ reader }}
{%- else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as shot,
       cast(null as bigint) as frame, cast(null as double) as time_s,
       cast(null as double) as sharpness, cast(null as varchar) as uri
where false
{%- endif %}
{% endmacro %}

{% macro staged_shot_tags(reader) %}
{%- if reader %}
select
    {{ partition_of() }} as partition_key,
    cast(shot as bigint) as shot,
    cast(tag as varchar) as tag,
    cast(score as double) as score,
    cast(source as varchar) as source,
    case when starts_with(source, 'classifier:') then 'classifier' else source end as source_kind,
    cast(above_threshold as boolean) as above_threshold,
    cast(weight as double) as weight
from {{ reader }}
{%- else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as shot,
       cast(null as varchar) as tag, cast(null as double) as score,
       cast(null as varchar) as source, cast(null as varchar) as source_kind,
       cast(null as boolean) as above_threshold, cast(null as double) as weight
where false
{%- endif %}
{% endmacro %}

{% macro staged_transcript(reader) %}
{%- if reader %}
select
    {{ partition_of() }} as partition_key,
    cast(row_number() over (partition by filename order by "start", "end") - 1 as bigint) as segment,
    cast("start" as double) as start_s,
    cast("end" as double) as end_s,
    cast(text as varchar) as text,
    cast(words as struct(word varchar, "start" double, "end" double, probability double)[]) as words,
    cast(language as varchar) as language,
    cast(source as varchar) as transcriber,
    cast(duration_s as double) as audio_duration_s
from {{ reader }}
{%- else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as segment,
       cast(null as double) as start_s, cast(null as double) as end_s,
       cast(null as varchar) as text,
       cast(null as struct(word varchar, "start" double, "end" double, probability double)[]) as words,
       cast(null as varchar) as language, cast(null as varchar) as transcriber,
       cast(null as double) as audio_duration_s
where false
{%- endif %}
{% endmacro %}

{% macro staged_audio_events(reader) %}
{%- if reader %}
select
    {{ partition_of() }} as partition_key,
    cast(row_number() over (partition by filename order by "start", "end", label) - 1 as bigint) as event,
    cast(label as varchar) as label,
    cast("start" as double) as start_s,
    cast("end" as double) as end_s,
    cast(confidence as double) as confidence
from {{ reader }}
{%- else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as event,
       cast(null as varchar) as label, cast(null as double) as start_s,
       cast(null as double) as end_s, cast(null as double) as confidence
where false
{%- endif %}
{% endmacro %}

{% macro staged_chapters(reader) %}
{%- if reader %}
select
    {{ partition_of() }} as partition_key,
    cast(row_number() over (partition by filename order by "start", "end") - 1 as bigint) as chapter,
    cast("start" as double) as start_s,
    cast("end" as double) as end_s,
    cast(title as varchar) as title,
    cast(keywords as varchar[]) as keywords
from {{ reader }}
{%- else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as chapter,
       cast(null as double) as start_s, cast(null as double) as end_s,
       cast(null as varchar) as title, cast(null as varchar[]) as keywords
where false
{%- endif %}
{% endmacro %}

{% macro staged(output, reader) %}
  {%- if output == 'shots' -%}{{ staged_shots(reader) }}
  {%- elif output == 'keyframes' -%}{{ staged_keyframes(reader) }}
  {%- elif output == 'shot_tags' -%}{{ staged_shot_tags(reader) }}
  {%- elif output == 'transcript' -%}{{ staged_transcript(reader) }}
  {%- elif output == 'audio_events' -%}{{ staged_audio_events(reader) }}
  {%- elif output == 'chapters' -%}{{ staged_chapters(reader) }}
  {%- else -%}{{ exceptions.raise_compiler_error("no staging select for output " ~ output) }}
  {%- endif -%}
{% endmacro %}
