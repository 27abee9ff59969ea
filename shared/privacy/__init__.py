"""The privacy engine: the record of processing, retention sweeps, breaches, data-subject requests."""
