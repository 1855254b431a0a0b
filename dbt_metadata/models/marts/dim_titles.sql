{#- One row per title in the catalogue. -#}
select
    md5(title) as title_id,
    title,
    count(*) as episodes,
    min(ingested_at) as first_ingested_at,
    max(ingested_at) as last_ingested_at
from {{ ref('stg_catalogue') }}
group by title
