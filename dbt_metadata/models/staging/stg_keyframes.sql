{% set src = source('media', 'keyframes') %}
{% if output_exists('keyframes.parquet') %}
select
    {{ partition_of() }} as partition_key,
    cast(shot as bigint) as shot,
    cast(frame as bigint) as frame,
    cast(time_s as double) as time_s,
    cast(sharpness as double) as sharpness,
    cast(uri as varchar) as uri
from {{ src }}
{% else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as shot,
       cast(null as bigint) as frame, cast(null as double) as time_s,
       cast(null as double) as sharpness, cast(null as varchar) as uri
where false
{% endif %}
