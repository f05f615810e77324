"""The collector's pure core: which metrics to ask CloudWatch for, how queries are built and
batched, and which datapoints are new (no AWS, no Redis)."""
