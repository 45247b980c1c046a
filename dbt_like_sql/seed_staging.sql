-- materialized: table
-- A version's seeds, staged: the text normalized the way exact-duplicate curation compares
-- it (lower case, whitespace runs folded to one space, trimmed), with its length in
-- characters and words.
SELECT
    dataset,
    version,
    record_id,
    label,
    text,
    trim(regexp_replace(lower(text), '\s+', ' ', 'g')) AS normalized_text,
    length(text) AS text_length,
    len(string_split_regex(trim(text), '\s+')) AS word_count,
    source_file,
    source_line
FROM {{ ref('seeds') }}
WHERE dataset = {{ dataset }} AND version = {{ version }}
