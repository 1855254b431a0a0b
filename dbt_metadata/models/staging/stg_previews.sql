{% set src = source('media', 'preview') %}
{% if output_exists('preview.json') %}
select
    {{ partition_of() }} as partition_key,
    cast("start" as double) as start_s,
    cast("end" as double) as end_s,
    cast(duration as double) as duration_s,
    cast(text as varchar) as text,
    cast(score as double) as score,
    cast(ranker as varchar) as ranker,
    cast(uri as varchar) as audio_uri,
    cast(video_uri as varchar) as video_uri,
    cast(reason as varchar) as reason
from {{ src }}
{% else %}
select cast(null as varchar) as partition_key, cast(null as double) as start_s,
       cast(null as double) as end_s, cast(null as double) as duration_s,
       cast(null as varchar) as text, cast(null as double) as score,
       cast(null as varchar) as ranker, cast(null as varchar) as audio_uri,
       cast(null as varchar) as video_uri, cast(null as varchar) as reason
where false
{% endif %}
