{{ config(meta={"dagster": {"ref": {"name": "fct_shots"}}}) }}
-- No row of an episode whose licence forbids search indexing is searchable, and no row of an
-- episode whose licence forbids analysis exists at all. Returns one row per violation.
{% set facts = ['fct_shots', 'fct_shot_tags', 'fct_transcript_segments', 'fct_audio_events', 'fct_previews'] %}
{% for fact in facts %}
select '{{ fact }}' as model, f.partition_key,
       case when not e.allows_analysis then 'licence forbids analysis'
            else 'searchable although the licence forbids indexing' end as problem
from {{ ref(fact) }} as f
left join {{ ref('dim_episodes') }} as e using (partition_key)
where e.partition_key is null
   or not e.allows_analysis
   or (f.searchable and not e.allows_search_indexing)
{% if not loop.last %}union all{% endif %}
{% endfor %}
