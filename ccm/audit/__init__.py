"""ccm audit: what every per-Service load balancer costs, its orphans, and what to change."""
