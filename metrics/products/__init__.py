"""Products, stock and fulfilment (issue 19): what sells (`sales`), what is on the shelf
(`stock`), how orders leave and arrive (`fulfilment`) and come back (`returns`), each from the
optional tables order_lines, products, inventory, shipments and returns. Definitions in
docs/products.md and in each function's docstring; `catalog` names the KPIs in English and Chinese.
"""
