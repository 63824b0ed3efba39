select
    publication_id,
    indicator as indicator_code,
    level,
    years,
    publisher,
    title,
    licence,
    citation_url,
    source_type,
    format,
    parser,
    expected_units,
    preference,
    repo_file
from {{ source('catalogue', 'publications') }}
