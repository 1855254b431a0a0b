{% set src = source('media', 'shot_tags') %}
{% if output_exists('shot_tags.parquet') %}
select
    {{ partition_of() }} as partition_key,
    cast(shot as bigint) as shot,
    cast(tag as varchar) as tag,
    cast(score as double) as score,
    cast(source as varchar) as source,
    case when starts_with(source, 'classifier:') then 'classifier' else source end as source_kind,
    cast(above_threshold as boolean) as above_threshold,
    cast(weight as double) as weight
from {{ src }}
{% else %}
select cast(null as varchar) as partition_key, cast(null as bigint) as shot,
       cast(null as varchar) as tag, cast(null as double) as score,
       cast(null as varchar) as source, cast(null as varchar) as source_kind,
       cast(null as boolean) as above_threshold, cast(null as double) as weight
where false
{% endif %}
