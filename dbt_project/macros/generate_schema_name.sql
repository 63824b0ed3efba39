{# Plain schema names (staging, intermediate, marts, reference) instead of main_marts etc.:
   analysts and BI tools read marts.fct_indicator_scores. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
