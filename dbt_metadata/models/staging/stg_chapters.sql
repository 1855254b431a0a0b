{% set src = source('media', 'chapters') %}
{% if output_exists('chapters.parquet') %}
select
    {{ partition_of() }} as partition_key,
    cast(row_number() over (partition by filename order by "start", "end") - 1 as bigint) as chapter,
    cast("start" as double) as start_s,
    cast("end" as double) as end_s,
    cast(title as varchar) as title,
    cast(keywords as varchar[]) as keywords
from {{ src }}
{% else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as chapter,
       cast(null as double) as start_s, cast(null as double) as end_s,
       cast(null as varchar) as title, cast(null as varchar[]) as keywords
where false
{% endif %}
