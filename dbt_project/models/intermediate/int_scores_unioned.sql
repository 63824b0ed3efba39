-- Every source's figures in one shape. A new source adds one select here.
select * from {{ ref('stg_vcci__pci_scores') }}
union all by name
select * from {{ ref('stg_undp__papi_scores') }}
