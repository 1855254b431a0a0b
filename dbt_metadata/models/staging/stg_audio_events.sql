{% set src = source('media', 'audio_events') %}
{% if output_exists('audio_events.parquet') %}
select
    {{ partition_of() }} as partition_key,
    cast(row_number() over (partition by filename order by "start", "end", label) - 1 as bigint) as event,
    cast(label as varchar) as label,
    cast("start" as double) as start_s,
    cast("end" as double) as end_s,
    cast(confidence as double) as confidence
from {{ src }}
{% else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as event,
       cast(null as varchar) as label, cast(null as double) as start_s,
       cast(null as double) as end_s, cast(null as double) as confidence
where false
{% endif %}
