{{ config(severity="warn", meta={"dagster": {"ref": {"name": "fct_shots"}}}) }}
-- Severity warn: a shot detector's gap in one episode is reported, not a reason to hold back
-- every other episode's update (see models/marts/schema.yml).
-- Shots tile each video episode: the first starts at frame 0 / 0 s, each starts where the one
-- before ended (next frame, same second), and the last ends within half a second of the
-- episode's duration (container and video stream durations differ by a few milliseconds).
-- Returns one row per violation.
with ordered as (
    select
        s.partition_key, s.shot, s.start_frame, s.end_frame, s.start_s, s.end_s,
        lag(s.end_frame) over w as prev_end_frame,
        lag(s.end_s) over w as prev_end_s,
        row_number() over w as position,
        count(*) over (partition by s.partition_key) as shots,
        e.duration_s as episode_duration_s
    from {{ ref('fct_shots') }} as s
    join {{ ref('dim_episodes') }} as e using (partition_key)
    window w as (partition by s.partition_key order by s.start_frame)
)
select partition_key, shot, 'first shot does not start at 0' as problem
from ordered where position = 1 and (start_frame <> 0 or abs(start_s) > 1e-6)
union all
select partition_key, shot, 'gap or overlap with the shot before'
from ordered where position > 1 and (start_frame <> prev_end_frame + 1 or abs(start_s - prev_end_s) > 1e-6)
union all
select partition_key, shot, 'shot ends before it starts'
from ordered where end_frame < start_frame or end_s <= start_s
union all
select partition_key, shot, 'last shot does not reach the episode end'
from ordered
where position = shots and episode_duration_s is not null and abs(end_s - episode_duration_s) > 0.5
