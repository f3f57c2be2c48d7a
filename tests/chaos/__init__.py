"""The seeded chaos suite of issue 10: random Service churn under cloud and API faults and
SIGKILLed controllers, then a checker that compares the cloud with what Services want."""
