{#- Per title: episodes, hours, shots per minute of video, share of speech and music, top tags,
    preview status and licences. Only episodes whose licence allows analysis count. -#}
with episodes as (
    select * from {{ ref('dim_episodes') }} where allows_analysis
),
shots as (
    select partition_key, count(*) as shots from {{ ref('fct_shots') }} group by partition_key
),
audio as (
    select partition_key,
           sum(duration_s) filter (where label in ('speech', 'speech_over_music')) as speech_s,
           sum(duration_s) filter (where label in ('music', 'speech_over_music')) as music_s
    from {{ ref('fct_audio_events') }}
    group by partition_key
),
tag_counts as (
    select e.title_id, u.tag, count(*) as n
    from {{ ref('fct_shots') }} as s
    join episodes as e using (partition_key)
    cross join unnest(s.tag_names) as u(tag)
    group by e.title_id, u.tag
),
top_tags as (
    select title_id, ({{ list_agg('tag', 'n desc, tag') }})[1:5] as top_tags
    from tag_counts group by title_id
),
previews as (
    select partition_key, bool_or(status = 'ready') as ready from {{ ref('fct_previews') }} group by partition_key
)
select
    e.title_id,
    min(e.title) as title,  -- one title per title_id
    count(*) as episodes,
    coalesce(sum(e.duration_s), 0) / 3600.0 as hours,
    case when sum(e.duration_s) filter (where e.kind = 'video') > 0
         then coalesce(sum(s.shots), 0) / (sum(e.duration_s) filter (where e.kind = 'video') / 60.0)
    end as shots_per_minute,
    case when sum(e.duration_s) > 0 then coalesce(sum(a.speech_s), 0) / sum(e.duration_s) end as speech_share,
    case when sum(e.duration_s) > 0 then coalesce(sum(a.music_s), 0) / sum(e.duration_s) end as music_share,
    coalesce(min(t.top_tags), {{ empty_text_list() }}) as top_tags,  -- one list per title_id
    count(*) filter (where p.ready) as episodes_with_preview,
    case when count(*) filter (where p.ready) = count(*) then 'all'
         when count(*) filter (where p.ready) > 0 then 'some' else 'none' end as preview_status,
    {{ distinct_list_agg('coalesce(e.licence_identifier, e.licence_status)') }} as licences,
    bool_and(e.allows_search_indexing) as searchable
from episodes as e
left join shots as s using (partition_key)
left join audio as a using (partition_key)
left join top_tags as t using (title_id)
left join previews as p using (partition_key)
group by e.title_id
