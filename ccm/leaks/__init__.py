"""The leak detector: finds cloud resources no live Service wants and removes them safely.

classify (pure: what is an orphan and why) → sweep (fail-safe checks, two sightings,
deletion budget, metrics, Events) → report (table/JSON) → loop (`ccm run`) and cli
(`ccm leaks`).
"""
