"""Journeys as code: plain-value encoding of the model, YAML / JSON files, and their JSON Schema."""
