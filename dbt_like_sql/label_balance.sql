-- materialized: table
-- The per-label balance used by generation quotas: each label's seeds, its target count
-- (the `target_per_label` variable, from the spec's generation.records_per_label; without
-- it, the largest label's seed count) and the quota gap generation has to fill.
-- Labels of the `labels` variable without any seed are listed with 0 seeds.
WITH seed_counts AS (
    SELECT label, count(*) AS seeds
    FROM {{ ref('seed_staging') }}
    WHERE dataset = {{ dataset }} AND version = {{ version }} AND label IS NOT NULL
    GROUP BY label
),
all_labels AS (
    SELECT label FROM seed_counts
{%- if labels is defined and labels %}
    UNION
    SELECT unnest([{{ labels | join(', ') }}]) AS label
{%- endif %}
),
counts AS (
    SELECT l.label, coalesce(s.seeds, 0) AS seeds
    FROM all_labels AS l
    LEFT JOIN seed_counts AS s USING (label)
),
target AS (
    SELECT
        coalesce(
            {% if target_per_label is defined %}{{ target_per_label }}{% else %}NULL{% endif %},
            (SELECT max(seeds) FROM counts)
        )::BIGINT AS target,
        {% if target_per_label is defined %}{{ target_per_label }}{% else %}NULL{% endif %}
            IS NULL AS target_from_seeds
)
SELECT
    {{ dataset }} AS dataset,
    {{ version }} AS version,
    c.label,
    c.seeds,
    round(c.seeds / nullif(sum(c.seeds) OVER (), 0), 4) AS seed_share,
    t.target,
    greatest(t.target - c.seeds, 0) AS quota_gap,
    t.target_from_seeds
FROM counts AS c
CROSS JOIN target AS t
ORDER BY c.label
