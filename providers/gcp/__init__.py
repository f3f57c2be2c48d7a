"""The GCP driver (passthrough Network Load Balancers through google-cloud-compute) and
the compute REST emulator its tests and `ccm demo --provider gcp` run against."""
