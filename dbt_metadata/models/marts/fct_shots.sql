{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='partition_key',
    post_hook="{{ delete_stale_partitions() }}",
) }}
{#- One row per shot of an episode whose licence allows analysis: its span, how it begins
    (`transition`: cut, dissolve, fade or wipe, null for the first shot and for shots detected
    before transitions were typed; a gradual one's span in `transition_start_s`/`_end_s`), keyframe, the tags
    that count for search (fusion or classifier rows above threshold, best score per tag), its
    chapter (the one holding the shot's midpoint), the kind of the marker holding its midpoint
    (`marker_kind`: intro, recap, credits or preview_of_next; null outside every marker: such
    shots repeat other episodes' material, and search leaves them out by default) and the words
    spoken during it (words whose start lies in [start_s, end_s)). Rows of episodes that forbid search indexing carry
    searchable = false. -#}
-- depends_on: {{ ref('stg_shots') }}
-- depends_on: {{ ref('stg_keyframes') }}
-- depends_on: {{ ref('stg_shot_tags') }}
-- depends_on: {{ ref('stg_transcript') }}
-- depends_on: {{ ref('stg_chapters') }}
-- depends_on: {{ ref('stg_episode_markers') }}
with state as (
    select * from {{ ref('stg_partition_state') }}
    where allows_analysis and {{ changed_partitions() }}
),
shots as (
    select s.*, state.fingerprint, state.allows_search_indexing
    from {{ changed_rows('shots') }} as s
    join state using (partition_key)
),
tags as (
    select partition_key, shot, tag, max(score) as score
    from {{ changed_rows('shot_tags', anchor='shots') }} as st
    where above_threshold and source_kind in ('fusion', 'classifier')
      and partition_key in (select partition_key from state)
    group by partition_key, shot, tag
),
shot_tags as (
    select partition_key, shot,
           {{ object_list_agg({'tag': 'tag', 'score': 'score'}, 'score desc, tag') }} as tags,
           {{ list_agg('tag', 'score desc, tag') }} as tag_names
    from tags
    group by partition_key, shot
),
words as (
    select t.partition_key, t.segment, w.idx,
           {{ object_field('w.word', 'word', 'varchar') }} as word,
           {{ object_field('w.word', 'start', 'double') }} as word_start
    from {{ changed_rows('transcript', anchor='shots') }} as t,
         {{ object_list_elements('t.words') }} with ordinality as w(word, idx)
    where t.partition_key in (select partition_key from state)
),
shot_words as (
    select s.partition_key, s.shot,
           {{ list_agg('trim(w.word)', 'w.word_start, w.segment, w.idx') }} as words
    from shots as s
    join words as w
      on w.partition_key = s.partition_key
     and w.word_start >= s.start_s and w.word_start < s.end_s
    group by s.partition_key, s.shot
),
chapters as (
    select s.partition_key, s.shot, {{ first_by('c.title', 'c.start_s') }} as chapter
    from shots as s
    join {{ changed_rows('chapters', anchor='shots') }} as c
      on c.partition_key = s.partition_key
     and (s.start_s + s.end_s) / 2 >= c.start_s and (s.start_s + s.end_s) / 2 < c.end_s
    group by s.partition_key, s.shot
),
markers as (
    select s.partition_key, s.shot, {{ first_by('m.kind', 'm.start_s') }} as marker_kind
    from shots as s
    join {{ changed_rows('episode_markers', anchor='shots') }} as m
      on m.partition_key = s.partition_key
     and (s.start_s + s.end_s) / 2 >= m.start_s and (s.start_s + s.end_s) / 2 < m.end_s
    group by s.partition_key, s.shot
)
select
    s.partition_key || '/' || s.shot as shot_id,
    s.partition_key,
    s.shot,
    s.start_frame,
    s.end_frame,
    s.start_s,
    s.end_s,
    s.end_s - s.start_s as duration_s,
    s.confidence,
    s.transition,
    s.transition_start_s,
    s.transition_end_s,
    k.uri as keyframe_uri,
    k.time_s as keyframe_time_s,
    coalesce(t.tags, {{ empty_object_list() }}) as tags,
    coalesce(t.tag_names, {{ empty_text_list() }}) as tag_names,
    ch.chapter,
    mk.marker_kind,
    coalesce(w.words, {{ empty_text_list() }}) as words,
    array_to_string(coalesce(w.words, {{ empty_text_list() }}), ' ') as spoken_text,
    s.allows_search_indexing as searchable,
    s.fingerprint as source_fingerprint,
    current_timestamp as loaded_at
from shots as s
left join {{ changed_rows('keyframes', anchor='shots') }} as k using (partition_key, shot)
left join shot_tags as t using (partition_key, shot)
left join shot_words as w using (partition_key, shot)
left join chapters as ch using (partition_key, shot)
left join markers as mk using (partition_key, shot)
