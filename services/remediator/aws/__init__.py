"""AWS through aioboto3: one session per process (and per assumed role), retries on transient
errors, SSM Run Command, resolving targets to the instances they are, Auto Scaling group sizes
for the blast radius, and the SSM parameter that switches auto-approval on."""
