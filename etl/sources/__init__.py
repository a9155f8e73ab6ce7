"""Where exports come from: object stores (S3, local folders), streaming reads, discovery, windows.

Low level: imports nothing of etl but settings and errors (and the contracts).
"""
