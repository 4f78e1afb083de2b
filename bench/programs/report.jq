# bench/programs/report.jq — jq workload for bench/programs/run.py over the
# generated orders.json: groups, sorts, string building and object churn.
[.[] | select(.qty > 1) | . + {total: (.qty * .price), key: (.customer + "/" + .sku)}]
| group_by(.customer)
| map({customer: .[0].customer, n: length, total: (map(.total) | add),
       skus: (map(.sku) | unique | length), tags: (map(.tags[]) | unique | join(","))})
| sort_by(-.total, .customer)
| {customers: length, top: .[:20], sum: (map(.total) | add)}
