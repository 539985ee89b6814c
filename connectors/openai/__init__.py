"""OpenAI connectors: the streaming gateway, the Realtime relay and the SDK tap."""
