{% set src = source('media', 'shots') %}
{% if output_exists('shots.parquet') %}
select
    {{ partition_of() }} as partition_key,
    cast(shot as bigint) as shot,
    cast(start_frame as bigint) as start_frame,
    cast(end_frame as bigint) as end_frame,
    cast(start_s as double) as start_s,
    cast(end_s as double) as end_s,
    cast(confidence as double) as confidence
from {{ src }}
{% else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as shot,
       cast(null as bigint) as start_frame, cast(null as bigint) as end_frame,
       cast(null as double) as start_s, cast(null as double) as end_s,
       cast(null as double) as confidence
where false
{% endif %}
