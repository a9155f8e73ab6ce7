"""HTTP landing for usage: `POST /ingest` checks records with the batch path's rules and
group-commits them as NDJSON.gz objects under the S3 landing prefix (docs in app.py)."""
