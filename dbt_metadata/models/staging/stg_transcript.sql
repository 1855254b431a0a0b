{% set src = source('media', 'transcript') %}
{% if output_exists('transcript.parquet') %}
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
from {{ src }}
{% else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as segment,
       cast(null as double) as start_s, cast(null as double) as end_s,
       cast(null as varchar) as text,
       cast(null as struct(word varchar, "start" double, "end" double, probability double)[]) as words,
       cast(null as varchar) as language, cast(null as varchar) as transcriber,
       cast(null as double) as audio_duration_s
where false
{% endif %}
