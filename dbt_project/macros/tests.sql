{# Generic tests written here because dbt packages (dbt_utils) cannot be installed offline. #}

{% test value_between(model, column_name, min_value, max_value) %}
select * from {{ model }}
where {{ column_name }} is not null
  and ({{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }})
{% endtest %}

{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{# A rank lies between 1 and the number of units of its level that existed in its year
   (int_units): 64 provinces in 2006-2008, 63 later, thousands of communes in the scale harness. #}
{% test rank_within_units(model, column_name) %}
with ranked as (
    select * from {{ model }}
),
existing as (
    select m.level, m.year, count(*) as units
    from (select distinct level, year from ranked) as m
    join {{ ref('int_units') }} as u
      on u.level = m.level and {{ unit_existed_in('u', 'm.year') }}
    group by m.level, m.year
)
select t.*
from ranked as t
left join existing as e on e.level = t.level and e.year = t.year
where t.{{ column_name }} is not null
  and (t.{{ column_name }} < 1 or t.{{ column_name }} > coalesce(e.units, 0))
{% endtest %}

{# Columns that hold one value per group (null counted as a value): fct_indicator_scores joins a
   publication's lineage (file, hashes, URL) after its pick instead of carrying it through. #}
{% test constant_per(model, group_by, columns) %}
select {{ group_by }}
from {{ model }}
group by {{ group_by }}
having {% for c in columns %}{% if not loop.first %} or {% endif %}min(coalesce({{ c }}, '')) <> max(coalesce({{ c }}, '')){% endfor %}
{% endtest %}

{# A column never above another of the same row (a rank band's best rank above its worst). #}
{% test at_most(model, column_name, other) %}
select * from {{ model }}
where {{ column_name }} > {{ other }}
{% endtest %}
