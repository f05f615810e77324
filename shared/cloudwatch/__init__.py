"""Reading CloudWatch: the metric catalogue, the GetMetricData queries, the AWS access (sessions,
assumed roles, retries) and the paged fetch. Used by the collector, which polls it, and by the
detector and ``scops``, which read history from it for training and backtests."""
