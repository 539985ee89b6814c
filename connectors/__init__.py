"""Adapters between the outside world (Kafka, media, OpenAI) and MidStream events."""
