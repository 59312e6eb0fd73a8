{
    "name": "MedPulse benchmark baselines",
    "summary": "Bench-only HTTP routes: the floor of Odoo's HTTP stack and one INSERT",
    "version": "18.0.1.0.0",
    "category": "Hidden",
    "license": "LGPL-3",
    "author": "MedPulse",
    "depends": ["base"],
    "data": [],
    "installable": True,
    "post_init_hook": "_create_table",
}
