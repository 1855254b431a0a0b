{{ config(materialized="table") }}
{#- One row per catalogued partition: its licence decisions and the fingerprint of the outputs
    the incremental models read (name, size, modification time of each file) together with
    those decisions, and the list of those files (`<partition>/<file name>`, read by the incremental
    facts: see changed_rows). A partition whose fingerprint differs from the one its rows were built
    from is rebuilt. read_blob reads no content when only metadata columns are selected.
    On PostgreSQL the loader (media_platform.metadata.postgres_load) keeps the same columns in
    media_raw.partition_state as it syncs the raw tables. -#}
{% if target.type == 'postgres' %}
select partition_key, allows_analysis, allows_search_indexing, files, fingerprint
from {{ api.Relation.create(database=target.dbname, schema=var('raw_schema', 'media_raw'), identifier='partition_state') }}
{% else %}
{% set globs = [] %}
{% for name in fingerprinted_outputs() %}{% do globs.append("'" ~ episode_glob(name) ~ "'") %}{% endfor %}
with files as (
    select
        {{ partition_of() }} as partition_key,
        filename,
        size,
        epoch_us(last_modified) as modified_us
    from read_blob([{{ globs | join(', ') }}])
),
per_partition as (
    select partition_key,
           string_agg(filename || ':' || size || ':' || modified_us, ',' order by filename) as stamps,
           list(regexp_extract(filename, '/episodes/([^/]+/[^/]+)$', 1) order by filename) as files
    from files
    group by partition_key
)
select
    c.partition_key,
    c.allows_analysis,
    c.allows_search_indexing,
    coalesce(p.files, []::varchar[]) as files,
    md5(coalesce(p.stamps, '') || '|' || c.allows_analysis || '|' || c.allows_search_indexing) as fingerprint
from {{ ref('stg_catalogue') }} as c
left join per_partition as p using (partition_key)
{% endif %}
