"""The Azure driver (a shared Standard Load Balancer per cluster through
azure-mgmt-network) and the ARM network emulator its tests and `ccm demo --provider azure`
run against."""
