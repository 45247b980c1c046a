-- materialized: view
-- The per-version summary `synth versions` shows: row counts per stage, candidates that
-- failed, rows curation dropped, gates passed and failed (a check fails when any of its
-- evaluations failed) and whether the version is, or ever was, the published one.
-- The regression check (`report_regression`) holds a version rather than failing it, and
-- only its latest evaluation counts: it is counted as passed or reported as held
-- (`regression_held`, with the figures that hold it), never as a failed gate.
WITH
all_versions AS (
    SELECT dataset, version FROM {{ ref('versions') }}
    UNION
    SELECT DISTINCT dataset, version FROM {{ ref('seeds') }}
),
seed_n AS (SELECT dataset, version, count(*) AS n FROM {{ ref('seeds') }} GROUP BY ALL),
holdout_n AS (SELECT dataset, version, count(*) AS n FROM {{ ref('holdout') }} GROUP BY ALL),
candidate_n AS (
    SELECT dataset, version, count(*) AS n, count(*) FILTER (WHERE status = 'ok') AS ok
    FROM {{ ref('candidates') }}
    GROUP BY ALL
),
filtered_n AS (SELECT dataset, version, count(*) AS n FROM {{ ref('filtered') }} GROUP BY ALL),
dropped_n AS (
    SELECT dataset, version, count(DISTINCT record_id) AS n
    FROM {{ ref('curation_audit') }}
    WHERE NOT kept
    GROUP BY ALL
),
dataset_n AS (SELECT dataset, version, count(*) AS n FROM {{ ref('dataset') }} GROUP BY ALL),
metric_n AS (
    SELECT dataset, version, count(*) AS n FROM {{ ref('report_metrics') }} GROUP BY ALL
),
regression_latest AS (
    SELECT dataset, version, max(checked_at) AS checked_at
    FROM {{ ref('check_results') }}
    WHERE check_name = 'report_regression'
    GROUP BY ALL
),
regression AS (
    SELECT
        c.dataset,
        c.version,
        bool_and(c.passed) AS passed,
        string_agg(c.expectation, ', ' ORDER BY c.expectation) FILTER (WHERE NOT c.passed)
            AS regressed_figures
    FROM {{ ref('check_results') }} AS c
    INNER JOIN regression_latest AS l USING (dataset, version, checked_at)
    WHERE c.check_name = 'report_regression'
    GROUP BY ALL
),
checks AS (
    SELECT dataset, version, check_name, bool_and(passed) AS passed
    FROM {{ ref('check_results') }}
    WHERE check_name <> 'report_regression'
    GROUP BY ALL
    UNION ALL
    SELECT dataset, version, 'report_regression', true FROM regression WHERE passed
),
gates AS (
    SELECT
        dataset,
        version,
        count(*) FILTER (WHERE passed) AS gates_passed,
        count(*) FILTER (WHERE NOT passed) AS gates_failed,
        string_agg(check_name, ', ' ORDER BY check_name) FILTER (WHERE NOT passed)
            AS failed_checks
    FROM checks
    GROUP BY ALL
),
history AS (SELECT DISTINCT dataset, version FROM {{ ref('publish_history') }})
SELECT
    v.dataset,
    v.version,
    vr.created_at,
    vr.status,
    vr.provider,
    vr.model,
    coalesce(s.n, 0) AS seeds,
    coalesce(h.n, 0) AS holdout,
    coalesce(c.n, 0) AS candidates,
    coalesce(c.ok, 0) AS candidates_ok,
    coalesce(c.n, 0) - coalesce(c.ok, 0) AS candidates_failed,
    coalesce(f.n, 0) AS filtered,
    coalesce(dr.n, 0) AS dropped,
    coalesce(d.n, 0) AS dataset_rows,
    coalesce(m.n, 0) AS report_metrics,
    coalesce(g.gates_passed, 0) AS gates_passed,
    coalesce(g.gates_failed, 0) AS gates_failed,
    g.failed_checks,
    coalesce(NOT r.passed, false) AS regression_held,
    r.regressed_figures,
    p.version IS NOT NULL AS is_published,
    hist.version IS NOT NULL AS ever_published
FROM all_versions AS v
LEFT JOIN {{ ref('versions') }} AS vr USING (dataset, version)
LEFT JOIN seed_n AS s USING (dataset, version)
LEFT JOIN holdout_n AS h USING (dataset, version)
LEFT JOIN candidate_n AS c USING (dataset, version)
LEFT JOIN filtered_n AS f USING (dataset, version)
LEFT JOIN dropped_n AS dr USING (dataset, version)
LEFT JOIN dataset_n AS d USING (dataset, version)
LEFT JOIN metric_n AS m USING (dataset, version)
LEFT JOIN gates AS g USING (dataset, version)
LEFT JOIN regression AS r USING (dataset, version)
LEFT JOIN {{ ref('published') }} AS p USING (dataset, version)
LEFT JOIN history AS hist USING (dataset, version)
