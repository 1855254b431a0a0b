{#- The chosen preview of each episode whose licence allows analysis (a preview file also
    needs derivatives: the preview asset only exists where allowed). -#}
select
    p.partition_key,
    p.start_s,
    p.end_s,
    p.duration_s,
    p.text,
    p.score,
    p.ranker,
    p.audio_uri,
    p.video_uri,
    p.reason,
    case when p.audio_uri is not null or p.video_uri is not null then 'ready' else 'none' end as status,
    e.allows_search_indexing as searchable
from {{ ref('stg_previews') }} as p
join {{ ref('dim_episodes') }} as e using (partition_key)
where e.allows_analysis
