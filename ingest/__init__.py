"""MQTT consumers: decode, validate, batch, write idempotently, then acknowledge."""
