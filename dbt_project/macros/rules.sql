{# Rules written once and used by every model that needs them. #}

{# A unit counts for a year when it existed at some point of that year (Hà Tây counts for 2008,
   the year it merged on 1 August; a 2025 province counts for 2025). #}
{% macro unit_existed_in(unit, year) -%}
    (({{ unit }}.valid_from is null or extract(year from {{ unit }}.valid_from) <= {{ year }})
     and ({{ unit }}.valid_to is null or extract(year from {{ unit }}.valid_to) >= {{ year }}))
{%- endmacro %}

{# The first year of the component's current series where its definition changed
   (seeds/series_breaks.csv), null before any break. #}
{% macro series_first_year(indicator, component, year) -%}
    (select max(b.first_year) from {{ ref('series_breaks') }} as b
     where b.indicator_code = {{ indicator }} and b.component_code = {{ component }} and b.first_year <= {{ year }})
{%- endmacro %}

{# Two printings of one figure agree when they differ by no more than half a unit of the less
   precise printing's last decimal (an unrounded workbook value counts as 15 decimals), plus
   1e-9 for binary floating point. #}
{% macro rounding_tolerance(decimals_a, decimals_b) -%}
    (0.5 * pow(10, -least(coalesce({{ decimals_a }}, 15), coalesce({{ decimals_b }}, 15))) + 1e-9)
{%- endmacro %}

{# Every row of the publishers' files: the union of the tidy-schema staging models listed in
   var('publisher_staging_models') (they share their columns). #}
{% macro publisher_file_rows() -%}
    {%- for model in var('publisher_staging_models') %}
    {% if not loop.first %}{{ union_all_by_name() }}{% endif %}
    select * from {{ ref(model) }}
    {%- endfor %}
{%- endmacro %}
