"""The Usage & cost page: a FastAPI app the Airflow API server mounts at /meterhouse (see
`MeterhousePlugin.fastapi_apps`), opened from Airflow's navigation (`external_views`).

- `app`: the routes, every one behind Airflow's own login (`auth.require_user`);
- `page`: the HTML (Jinja2 template `templates/usage.html`), `charts`: server-side SVG,
  `formatting`: how numbers are written. The figures come from `etl.jobs.usage_report`
  (the published lake, read-only), imported when a page is asked for, not when Airflow loads
  the plugin.
"""
