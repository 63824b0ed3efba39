-- Every rank is labelled, "N of ?" only where how many units were ranked is recorded nowhere
-- (SIPAS 2015); no rank change is computed against (or from) a table of unknown size; a place read
-- from the order a page lists units in is order_of_listing, never published, and names its page.
select *
from {{ ref('fct_rankings') }}
where (rank is not null and rank_label is null)
    or (rank_label like '% of ?' and units_ranked is not null)
    or (rank_change is not null and (units_ranked is null or previous_units_ranked is null))
    or (rank_from_order_of_listing and rank_source <> 'order_of_listing')
    or (rank_source = 'order_of_listing' and (not rank_from_order_of_listing or rank_source_url is null))
